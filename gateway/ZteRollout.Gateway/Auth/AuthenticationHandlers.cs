using Microsoft.AspNetCore.Http;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Auth;

/// <summary>Authenticates admin calls by API key; the principal carries the key's name and role.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyStore keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Bearer(Request) is not { } key)
        {
            return Task.FromResult(Fail(Context, "missing 'authorization: Bearer <admin API key>' header"));
        }

        if (keys.Find(key) is not { } identity)
        {
            return Task.FromResult(Fail(Context, "admin API key is not valid"));
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, identity.Name), new Claim(ClaimTypes.Role, identity.Role)], Scheme.Name));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name)));
    }

    internal static string? Bearer(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;
    }

    internal static AuthenticateResult Fail(HttpContext context, string reason)
    {
        context.Items[RolloutAuth.FailureItem] = reason;
        return AuthenticateResult.Fail(reason);
    }
}

/// <summary>
/// Authenticates device calls by device token. The token names its device; the device grain holds the secret's hash.
/// A verified token is remembered briefly so a check-in costs one grain call, not two.
/// </summary>
public sealed class DeviceAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IGrainFactory grains,
    IMemoryCache cache,
    IOptions<GatewayOptions> gatewayOptions) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (ApiKeyAuthenticationHandler.Bearer(Request) is not { } token)
        {
            return ApiKeyAuthenticationHandler.Fail(Context, "missing 'authorization: Bearer <device token>' header");
        }

        if (!DeviceIdentity.TryParseToken(token, out var deviceId, out var secret))
        {
            return ApiKeyAuthenticationHandler.Fail(Context, "authorization is not a device token");
        }

        // Keyed by the whole token (it names the device): a cached check-in neither hashes nor calls a grain.
        if (!cache.TryGetValue(token, out _))
        {
            bool valid;
            try
            {
                valid = await grains.Device(deviceId).VerifyCredentialAsync(DeviceIdentity.HashSecret(secret));
            }
            catch (Exception e) when (Errors.ErrorMappingInterceptor.IsTransient(e))
            {
                // Not the caller's fault: answer Unavailable (retry), not Unauthenticated.
                Context.Items[RolloutAuth.UnavailableItem] = "the rollout service is temporarily unavailable; retry: " + e.Message;
                return AuthenticateResult.Fail("credential check unavailable");
            }

            if (!valid)
            {
                return ApiKeyAuthenticationHandler.Fail(Context, "device credential is not valid");
            }

            cache.Set(token, true, gatewayOptions.Value.DeviceCredentialCacheTime);
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim(RolloutAuth.DeviceIdClaim, deviceId)], Scheme.Name));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
    }
}
