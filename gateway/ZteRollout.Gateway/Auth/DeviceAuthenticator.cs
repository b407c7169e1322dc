using Grpc.Core;
using Microsoft.AspNetCore.Http;
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
    /// <summary>The id of the device whose valid token the call carries; otherwise Unauthenticated (or Unavailable).</summary>
    public async ValueTask<string> AuthenticateAsync(ServerCallContext context)
    {
        var request = context.GetHttpContext().Request;
        if (ApiKeyAuthenticationHandler.Bearer(request) is not { } token)
        {
            throw Refused("missing 'authorization: Bearer <device token>' header");
        }

        if (!DeviceIdentity.TryParseToken(token, out var deviceId, out var secret))
        {
            throw Refused("authorization is not a device token");
        }

        // Keyed by the whole token (it names the device): a cached check-in neither hashes nor calls a grain.
        if (cache.TryGetValue(token, out _))
        {
            return deviceId;
        }

        bool valid;
        try
        {
            valid = await grains.Device(deviceId).VerifyCredentialAsync(DeviceIdentity.HashSecret(secret));
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

        cache.Set(token, true, options.Value.DeviceCredentialCacheTime);
        return deviceId;
    }

    private static RpcException Refused(string reason) => new(new Status(StatusCode.Unauthenticated, reason));
}
