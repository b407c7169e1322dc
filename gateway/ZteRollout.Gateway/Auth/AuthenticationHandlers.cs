using Microsoft.AspNetCore.Http;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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

    internal static string? Bearer(HttpRequest request) => Bearer(request.Headers.Authorization.ToString());

    internal static string? Bearer(string header) =>
        header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;

    internal static AuthenticateResult Fail(HttpContext context, string reason)
    {
        context.Items[RolloutAuth.FailureItem] = reason;
        return AuthenticateResult.Fail(reason);
    }
}
