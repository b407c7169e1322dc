namespace ZteRollout.Gateway.Auth;

/// <summary>
/// Device tokens the device grain accepted lately, each trusted for a fixed time from its verification (never extended
/// by use, so a rotated credential stops working within that time). Keyed by the token itself, not the header it came
/// in: <c>Bearer t</c>, <c>bearer t</c> and <c>Bearer   t</c> are one entry. Bounded in entries and in bytes; when a
/// bound is reached the oldest entry goes, in O(1) (<see cref="BoundedTokenCache{TValue}"/>).
/// </summary>
public sealed class VerifiedTokenCache
{
    /// <summary>Default bound in bytes: about a million entries of typical device ids.</summary>
    public const long DefaultMaxBytes = 256L * 1024 * 1024;

    private readonly BoundedTokenCache<AuthenticatedDevice> _tokens;

    public VerifiedTokenCache(TimeSpan trustFor, int capacity, TimeProvider clock)
        : this(trustFor, capacity, DefaultMaxBytes, clock)
    {
    }

    public VerifiedTokenCache(TimeSpan trustFor, int capacity, long maxBytes, TimeProvider clock) =>
        _tokens = new(trustFor, capacity, maxBytes, device => 2 * device.DeviceId.Length, clock);

    public int Count => _tokens.Count;

    /// <summary>Estimated bytes held (bounded by the <c>maxBytes</c> given).</summary>
    public long Bytes => _tokens.Bytes;

    /// <summary>The device of a token verified lately; <paramref name="header"/> is an authorization header or the bare token.</summary>
    public AuthenticatedDevice? Find(string header) => _tokens.Find(TokenOf(header));

    /// <summary>The device of a token verified lately, by the token itself (as <see cref="TokenOf"/> cuts it out of a header).</summary>
    public AuthenticatedDevice? FindToken(ReadOnlySpan<char> token) => _tokens.Find(token);

    /// <summary>Remembers a verified token; <paramref name="header"/> is an authorization header or the bare token.</summary>
    public void Remember(string header, AuthenticatedDevice device)
    {
        var token = TokenOf(header);
        _tokens.Remember(token.Length == header.Length ? header : token.ToString(), device);
    }

    /// <summary>
    /// The token in an authorization header: what follows the scheme and its whitespace, whatever the scheme's case
    /// (the scheme is the authenticator's business); the whole value, trimmed, when it has no scheme.
    /// </summary>
    public static ReadOnlySpan<char> TokenOf(ReadOnlySpan<char> header)
    {
        var trimmed = header.Trim();
        var space = trimmed.IndexOfAny(' ', '\t');
        return space < 0 ? trimmed : trimmed[(space + 1)..].TrimStart();
    }
}
