using System.Collections.Concurrent;

namespace ZteRollout.Gateway.Auth;

/// <summary>
/// Device tokens the device grain accepted lately, by the authorization header they came in, each trusted for a fixed
/// time from its verification (never extended by use, so a rotated credential stops working within that time).
/// </summary>
/// <remarks>
/// Looked up on every check-in, so it is a plain concurrent dictionary with monotonic timestamps: no per-hit clock
/// read of the wall time, no access bookkeeping. Expired entries are dropped when met and by a sweep at most once
/// per trust period; at <c>capacity</c> entries nothing new is remembered (those calls verify in their grain call).
/// </remarks>
public sealed class VerifiedTokenCache(TimeSpan trustFor, int capacity, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly long _trustTicks = (long)(trustFor.TotalSeconds * clock.TimestampFrequency);
    private long _nextSweep;

    // ConcurrentDictionary.Count takes every lock of the table: on the check-in path it serialized callers, so the
    // size is counted here instead.
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public AuthenticatedDevice? Find(string header)
    {
        if (!_entries.TryGetValue(header, out var entry))
        {
            return null;
        }

        if (clock.GetTimestamp() < entry.ExpiresAt)
        {
            return entry.Device;
        }

        if (_entries.TryRemove(KeyValuePair.Create(header, entry)))
        {
            Interlocked.Decrement(ref _count);
        }

        return null;
    }

    public void Remember(string header, AuthenticatedDevice device)
    {
        if (_trustTicks <= 0)
        {
            return;
        }

        var now = clock.GetTimestamp();
        if (now >= Interlocked.Read(ref _nextSweep) || Count >= capacity)
        {
            Sweep(now);
        }

        if (Count >= capacity)
        {
            return;
        }

        var entry = new Entry(device, now + _trustTicks);
        if (_entries.TryAdd(header, entry))
        {
            Interlocked.Increment(ref _count);
        }
        else
        {
            _entries[header] = entry;
        }
    }

    private void Sweep(long now)
    {
        Interlocked.Exchange(ref _nextSweep, now + _trustTicks);
        foreach (var pair in _entries)
        {
            if (pair.Value.ExpiresAt <= now && _entries.TryRemove(pair))
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }

    private sealed record Entry(AuthenticatedDevice Device, long ExpiresAt);
}
