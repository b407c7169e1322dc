using System.Collections.Concurrent;

namespace ZteRollout.Gateway.Auth;

/// <summary>
/// Values remembered by device token for a fixed time from when they were remembered (never extended by use), bounded
/// in entries and in estimated bytes. Used for tokens verified lately and for tokens refused lately.
/// </summary>
/// <remarks>
/// Every entry lives equally long, so the order entries were remembered in is the order they expire in: a queue in that
/// order gives O(1) eviction, of the expired first and then, when a bound is reached, of the oldest (closest to expiry).
/// Lookups are lock-free and take the token as a span, so a lookup cuts no string out of the header; remembering takes
/// a lock, and it happens only after a grain call.
/// </remarks>
public sealed class BoundedTokenCache<TValue>
    where TValue : class
{
    /// <summary>Bytes an entry costs beyond its strings: the entry, the dictionary node, the queue slot, the value object.</summary>
    public const int EntryOverheadBytes = 160;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Entry>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly Queue<Entry> _order = new();
    private readonly Lock _gate = new();
    private readonly long _lifetimeTicks;
    private readonly int _maxEntries;
    private readonly long _maxBytes;
    private readonly Func<TValue, int> _valueBytes;
    private readonly TimeProvider _clock;
    private int _count;
    private long _bytes;

    /// <param name="lifetime">How long an entry is kept from when it is remembered.</param>
    /// <param name="maxEntries">Most entries at once.</param>
    /// <param name="maxBytes">Most estimated bytes at once (strings at two bytes a character, plus <see cref="EntryOverheadBytes"/>).</param>
    /// <param name="valueBytes">Bytes a value holds beyond the overhead (its strings).</param>
    public BoundedTokenCache(TimeSpan lifetime, int maxEntries, long maxBytes, Func<TValue, int> valueBytes, TimeProvider clock)
    {
        _bySpan = _entries.GetAlternateLookup<ReadOnlySpan<char>>();
        _lifetimeTicks = (long)(lifetime.TotalSeconds * clock.TimestampFrequency);
        _maxEntries = maxEntries;
        _maxBytes = maxBytes;
        _valueBytes = valueBytes;
        _clock = clock;
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Estimated bytes held.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    public TValue? Find(ReadOnlySpan<char> token)
    {
        if (!_bySpan.TryGetValue(token, out var entry))
        {
            return null;
        }

        var now = _clock.GetTimestamp();
        if (now < entry.ExpiresAt)
        {
            return entry.Value;
        }

        // Expired entries sit at the head of the queue: dropping them from there is O(1) each.
        lock (_gate)
        {
            Evict(now);
        }

        return null;
    }

    public void Remember(string token, TValue value)
    {
        var cost = EntryOverheadBytes + (2L * token.Length) + _valueBytes(value);
        if (_lifetimeTicks <= 0 || _maxEntries <= 0 || cost > _maxBytes)
        {
            return;
        }

        var now = _clock.GetTimestamp();
        var entry = new Entry(token, value, now + _lifetimeTicks, cost);
        lock (_gate)
        {
            if (_entries.TryGetValue(token, out var old))
            {
                // Its queue slot stays behind, marked; it is skipped when it reaches the head.
                Drop(old);
            }

            _entries[token] = entry;
            _count++;
            _bytes += cost;
            _order.Enqueue(entry);
            Evict(now);
        }
    }

    /// <summary>Drops from the head: what was replaced or expired, then the oldest while a bound is exceeded.</summary>
    private void Evict(long now)
    {
        while (_order.TryPeek(out var head))
        {
            var over = _count > _maxEntries || _bytes > _maxBytes || _order.Count > 2 * _maxEntries;
            if (!head.Dropped && head.ExpiresAt > now && !over)
            {
                return;
            }

            _order.Dequeue();
            if (!head.Dropped)
            {
                _entries.TryRemove(KeyValuePair.Create(head.Token, head));
                Drop(head);
            }
        }
    }

    private void Drop(Entry entry)
    {
        entry.Dropped = true;
        _count--;
        _bytes -= entry.Cost;
    }

    private sealed class Entry(string token, TValue value, long expiresAt, long cost)
    {
        public string Token { get; } = token;

        public TValue Value { get; } = value;

        public long ExpiresAt { get; } = expiresAt;

        public long Cost { get; } = cost;

        /// <summary>Set under the lock once the entry no longer counts (replaced or evicted).</summary>
        public bool Dropped { get; set; }
    }
}
