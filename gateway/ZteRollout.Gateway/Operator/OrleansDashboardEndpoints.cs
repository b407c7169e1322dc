using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;
using ZteRollout.Gateway.Auth;

namespace ZteRollout.Gateway.Operator;

/// <summary>
/// The Orleans Dashboard (grain activations, method latency, silos, reminders) for cluster operators, on the operator
/// listener under <see cref="Path"/> when <c>Rollout:Operator:OrleansDashboard</c> is true. It shows grain state and
/// the cluster's logs, so only the admin role reaches it: by API key (curl, scripts) or by the console's sign-in
/// cookie (a browser, whose dashboard page fetches its figures without an authorization header).
/// </summary>
public static class OrleansDashboardEndpoints
{
    /// <summary>Where the dashboard is served; its page is <c>/orleans-dashboard/</c> (the bare path redirects there).</summary>
    public const string Path = "/orleans-dashboard";

    /// <summary>The setting that turns it on, read by the silo (which collects the figures) and the gateway (which serves them).</summary>
    public const string Setting = OperatorOptions.Section + ":" + nameof(OperatorOptions.OrleansDashboard);

    /// <summary>Admin role, by API key or console cookie.</summary>
    public const string Policy = "orleans-dashboard";

    /// <summary>The console's sign-in cookie as an authentication scheme, for pages a browser loads by itself.</summary>
    public const string ConsoleCookieScheme = "ConsoleCookie";

    public static void AddZteRolloutOrleansDashboardAccess(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, ConsoleCookieAuthenticationHandler>(ConsoleCookieScheme, null);
        services.AddAuthorizationBuilder().AddPolicy(Policy, p => p
            .AddAuthenticationSchemes(RolloutAuth.ApiKeyScheme, ConsoleCookieScheme)
            .RequireRole(RolloutAuth.Roles.Admin));
    }

    public static IEndpointRouteBuilder MapZteRolloutOrleansDashboard(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapOrleansDashboard(Path)
            .WithMetadata(new OperatorEndpointMetadata())
            .RequireAuthorization(Policy);
        return endpoints;
    }
}

/// <summary>Authenticates a request by the console's sign-in cookie (<see cref="ConsoleSession"/>): same key store, same roles.</summary>
public sealed class ConsoleCookieAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ConsoleSession session)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (session.Current(Context) is not { } identity)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, identity.Name), new Claim(ClaimTypes.Role, identity.Role)], Scheme.Name));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name)));
    }
}
