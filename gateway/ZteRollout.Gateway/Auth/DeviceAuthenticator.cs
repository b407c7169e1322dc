using Grpc.Core;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using ZteRollout.Gateway.Errors;
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
public sealed class DeviceAuthenticator(IGrainFactory grains, IMemoryCache cache, IOptions<GatewayOptions> options)
{
    /// <summary>The device whose valid token the call carries; otherwise Unauthenticated (or Unavailable).</summary>
    public async ValueTask<AuthenticatedDevice> AuthenticateAsync(ServerCallContext context)
    {
        // Keyed by the header as received (it holds the whole token, which names the device): a check-in whose token
        // was verified lately neither parses, hashes, allocates a grain reference nor calls a grain.
        string header = context.GetHttpContext().Request.Headers.Authorization.ToString();
        if (header.Length > 0 && cache.TryGetValue(header, out AuthenticatedDevice? known))
        {
            return known!;
        }

        if (ApiKeyAuthenticationHandler.Bearer(header) is not { } token)
        {
            throw Refused("missing 'authorization: Bearer <device token>' header");
        }

        if (!DeviceIdentity.TryParseToken(token, out var deviceId, out var secret))
        {
            throw Refused("authorization is not a device token");
        }

        var device = new AuthenticatedDevice(deviceId, grains.Device(deviceId));
        bool valid;
        try
        {
            valid = await device.Grain.VerifyCredentialAsync(DeviceIdentity.HashSecret(secret));
        }
        catch (Exception e) when (ErrorMappingInterceptor.IsTransient(e))
        {
            // Not the caller's fault: Unavailable (retry), not Unauthenticated.
            throw new RpcException(new Status(StatusCode.Unavailable, "the rollout service is temporarily unavailable; retry: " + e.Message));
        }

        if (!valid)
        {
            throw Refused("device credential is not valid");
        }

        cache.Set(header, device, options.Value.DeviceCredentialCacheTime);
        return device;
    }

    private static RpcException Refused(string reason) => new(new Status(StatusCode.Unauthenticated, reason));
}

/// <summary>A device whose token was verified, and its grain.</summary>
public sealed record AuthenticatedDevice(string DeviceId, IDeviceGrain Grain);
