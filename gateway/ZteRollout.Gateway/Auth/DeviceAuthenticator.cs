using Grpc.Core;
using Microsoft.Extensions.Options;
using ZteRollout.Gateway.Errors;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Auth;

/// <summary>
/// Authenticates device calls by device token. The token names its device; the device grain holds the secret's hash.
/// A verified token is remembered briefly, so a check-in costs one grain call, not two.
/// </summary>
/// <remarks>
/// Devices are the hot path and have exactly one rule (a valid token for the device the call names), so this runs
/// inside the device service rather than as an ASP.NET Core authentication scheme and policy: the per-request
/// handler, principal and policy evaluation cost a measurable share of a check-in (docs/benchmarks.md). Admin calls,
/// with roles, keep the ASP.NET Core policies.
/// </remarks>
public sealed class DeviceAuthenticator(IGrainFactory grains, IOptions<GatewayOptions> options, TimeProvider clock, DeviceCallRetry retry)
{
    private readonly VerifiedTokenCache _verified = new(options.Value.DeviceCredentialCacheTime, options.Value.DeviceCredentialCacheEntries, clock);

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
            // Not the caller's fault: Unavailable (retry), not Unauthenticated.
            throw new RpcException(new Status(StatusCode.Unavailable, "the rollout service is temporarily unavailable; retry: " + e.Message));
        }

        if (!valid)
        {
            throw NotValid();
        }

        Remember(token);
        return token.Device;
    }

    /// <summary>
    /// The device of a token verified lately. Keyed by the header as received (it holds the whole token, which names
    /// the device): such a call neither parses, hashes, allocates a grain reference nor calls a grain to authenticate.
    /// </summary>
    public AuthenticatedDevice? Cached(ServerCallContext context) => Header(context) is { Length: > 0 } header ? _verified.Find(header) : null;

    /// <summary>The call's device token, not verified yet; Unauthenticated when it is missing or malformed.</summary>
    public PresentedToken Parse(ServerCallContext context)
    {
        var header = Header(context);
        if (ApiKeyAuthenticationHandler.Bearer(header) is not { } token)
        {
            throw Refused("missing 'authorization: Bearer <device token>' header");
        }

        if (!DeviceIdentity.TryParseToken(token, out var deviceId, out var secret))
        {
            throw Refused("authorization is not a device token");
        }

        return new PresentedToken(header, new AuthenticatedDevice(deviceId, grains.Device(deviceId)), DeviceIdentity.HashSecret(secret));
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
    public void Remember(PresentedToken token) => _verified.Remember(token.Header, token.Device);

    private static string Header(ServerCallContext context) => context.GetHttpContext().Request.Headers.Authorization.ToString();

    public static RpcException NotValid() => Refused("device credential is not valid");

    private static RpcException Refused(string reason) => new(new Status(StatusCode.Unauthenticated, reason));
}

/// <summary>A device whose token was verified, and its grain.</summary>
public sealed record AuthenticatedDevice(string DeviceId, IDeviceGrain Grain);

/// <summary>A device token as presented: the header it came in, the device it names, and its secret's hash.</summary>
public sealed record PresentedToken(string Header, AuthenticatedDevice Device, byte[] SecretHash);
