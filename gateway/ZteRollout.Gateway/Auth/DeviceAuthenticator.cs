using Grpc.Core;
using Microsoft.Extensions.Options;
using ZteRollout.Gateway.Errors;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Auth;

/// <summary>
/// Authenticates device calls by device token. The token names its device and carries a MAC by the gateways'
/// device-token key (<see cref="DeviceTokenMac"/>): a token the server did not issue is refused here, without any grain
/// call or storage read. The device grain holds the secret's hash and decides whether an issued token is current.
/// A verified token is remembered briefly, so a check-in costs one grain call, not two; a token the grain refused is
/// remembered too, so repeating it costs nothing.
/// </summary>
/// <remarks>
/// Devices are the hot path and have exactly one rule (a valid token for the device the call names), so this runs
/// inside the device service rather than as an ASP.NET Core authentication scheme and policy: the per-request
/// handler, principal and policy evaluation cost a measurable share of a check-in (docs/benchmarks.md). Admin calls,
/// with roles, keep the ASP.NET Core policies. Refusals say only what the caller sent wrong, never why inside.
/// </remarks>
public sealed class DeviceAuthenticator(IGrainFactory grains, IOptions<GatewayOptions> options, TimeProvider clock, DeviceCallRetry retry, DeviceTokenMac mac)
{
    private readonly VerifiedTokenCache _verified = new(
        options.Value.DeviceCredentialCacheTime, options.Value.DeviceCredentialCacheEntries, options.Value.DeviceCredentialCacheBytes, clock);

    // Tokens with a valid MAC that their device grain refused (rotated, or never stored): such a token never becomes
    // valid again. Keyed like the verified ones; the value only marks presence.
    private readonly BoundedTokenCache<object> _refused = new(
        options.Value.RefusedTokenCacheTime, options.Value.RefusedTokenCacheEntries, options.Value.RefusedTokenCacheEntries * 512L, _ => 0, clock);

    private static readonly object RefusalMark = new();

    private readonly int _maxHeaderChars = options.Value.MaxAuthorizationHeaderChars;

    /// <summary>Verified tokens remembered now (one per token, whatever the header variants it came in).</summary>
    public int VerifiedCount => _verified.Count;

    /// <summary>Refused tokens remembered now.</summary>
    public int RefusedCount => _refused.Count;

    /// <summary>The device whose valid token the call carries; otherwise Unauthenticated (or Unavailable).</summary>
    public async ValueTask<AuthenticatedDevice> AuthenticateAsync(ServerCallContext context)
    {
        if (Cached(context) is { } known)
        {
            return known;
        }

        var token = Parse(context);
        bool valid;
        try
        {
            valid = await retry.RunAsync(() => token.Device.Grain.VerifyCredentialAsync(token.SecretHash), context.CancellationToken);
        }
        catch (Exception e) when (ErrorMappingInterceptor.IsTransient(e))
        {
            // Not the caller's fault: Unavailable (retry), not Unauthenticated. The cause stays in the server's logs.
            throw new RpcException(new Status(StatusCode.Unavailable, "the rollout service is temporarily unavailable; retry"));
        }

        if (!valid)
        {
            RememberRefusal(token);
            throw NotValid();
        }

        Remember(token);
        return token.Device;
    }

    /// <summary>
    /// The device of a token verified lately, found by the token in the header (any case of <c>Bearer</c>, any spacing):
    /// such a call neither hashes, allocates a grain reference nor calls a grain to authenticate.
    /// </summary>
    public AuthenticatedDevice? Cached(ServerCallContext context)
    {
        var header = Header(context);
        return header.Length is > 0 && header.Length <= _maxHeaderChars && BearerToken(header) is { IsEmpty: false } token ? _verified.FindToken(token) : null;
    }

    /// <summary>
    /// The call's device token, its MAC checked but not yet its grain; Unauthenticated when it is missing, malformed,
    /// not issued by this server, or refused lately by its grain. Nothing here calls a grain or reads storage.
    /// </summary>
    public PresentedToken Parse(ServerCallContext context)
    {
        var header = Header(context);
        if (header.Length > _maxHeaderChars)
        {
            throw Refused($"authorization header is longer than {_maxHeaderChars} characters");
        }

        var bearer = BearerToken(header);
        if (bearer.IsEmpty)
        {
            throw Refused("missing 'authorization: Bearer <device token>' header");
        }

        var token = bearer.ToString();
        switch (mac.Check(token))
        {
            case DeviceTokenCheck.Malformed:
                throw Refused("authorization is not a device token");
            case DeviceTokenCheck.Forged:
                throw NotValid();
        }

        if (_refused.Find(token) is not null)
        {
            throw NotValid();
        }

        DeviceIdentity.TryParseToken(token, out var deviceId, out var secret);
        return new PresentedToken(header, new AuthenticatedDevice(deviceId, grains.Device(deviceId)), DeviceIdentity.HashSecret(secret)) { Token = token };
    }

    /// <summary>The device of a token verified lately, by the authorization header it came in (any scheme).</summary>
    public AuthenticatedDevice? Cached(string header) => header.Length > 0 ? _verified.Find(header) : null;

    /// <summary>A device token taken from a header of another scheme (hawkBit DDI's <c>TargetToken</c>); null when malformed.</summary>
    public PresentedToken? TryParse(string header, string token) =>
        DeviceIdentity.TryParseToken(token, out var deviceId, out var secret)
            ? new PresentedToken(header, new AuthenticatedDevice(deviceId, grains.Device(deviceId)), DeviceIdentity.HashSecret(secret))
            : null;

    /// <summary>Asks the device grain whether a presented token is valid; remembers it when it is. Transient errors propagate.</summary>
    public async ValueTask<bool> VerifyAsync(PresentedToken token, CancellationToken cancellationToken)
    {
        if (!await retry.RunAsync(() => token.Device.Grain.VerifyCredentialAsync(token.SecretHash), cancellationToken))
        {
            return false;
        }

        Remember(token);
        return true;
    }

    /// <summary>Remembers a token the device grain accepted, for <see cref="GatewayOptions.DeviceCredentialCacheTime"/>.</summary>
    public void Remember(PresentedToken token) => _verified.Remember(token.Token, token.Device);

    /// <summary>Remembers a token the device grain refused, for <see cref="GatewayOptions.RefusedTokenCacheTime"/>.</summary>
    public void RememberRefusal(PresentedToken token) => _refused.Remember(token.Token, RefusalMark);

    private static string Header(ServerCallContext context) => context.GetHttpContext().Request.Headers.Authorization.ToString();

    /// <summary>The token after a <c>Bearer</c> scheme in any case; empty when the header has no such scheme or no token.</summary>
    private static ReadOnlySpan<char> BearerToken(string header)
    {
        var value = header.AsSpan().Trim();
        return value.Length > 7 && value.StartsWith("Bearer", StringComparison.OrdinalIgnoreCase) && value[6] is ' ' or '\t'
            ? VerifiedTokenCache.TokenOf(value)
            : [];
    }

    public static RpcException NotValid() => Refused("device credential is not valid");

    private static RpcException Refused(string reason) => new(new Status(StatusCode.Unauthenticated, reason));
}

/// <summary>A device whose token was verified, and its grain.</summary>
public sealed record AuthenticatedDevice(string DeviceId, IDeviceGrain Grain);

/// <summary>A device token as presented: the header it came in, the device it names, and its secret's hash.</summary>
public sealed record PresentedToken(string Header, AuthenticatedDevice Device, byte[] SecretHash)
{
    /// <summary>The token itself, cut out of the header: the key under which it is remembered.</summary>
    public string Token { get; init; } = VerifiedTokenCache.TokenOf(Header).ToString();
}
