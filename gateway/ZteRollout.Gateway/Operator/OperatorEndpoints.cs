using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ZteRollout.Gateway.Auth;

namespace ZteRollout.Gateway.Operator;

/// <summary>The operator listener's own routes; the HTTP/JSON API itself comes from the admin service's <c>google.api.http</c> routes.</summary>
public static class OperatorEndpoints
{
    /// <summary>The OpenAPI document's name: it is served at <see cref="OpenApiPath"/>.</summary>
    public const string OpenApiDocument = "v1";

    /// <summary>Where the OpenAPI document of the HTTP/JSON API is served (stable: tools and docs link to it).</summary>
    public const string OpenApiPath = "/openapi/v1.json";

    /// <summary>The Prometheus scrape endpoint.</summary>
    public const string MetricsPath = "/metrics";

    public static IEndpointRouteBuilder MapZteRolloutOperator(this IEndpointRouteBuilder endpoints)
    {
        // Like every route of this listener, behind an admin key of any role: a map of the API and the rollout's
        // figures are for operators (Prometheus sends the key with `authorization: credentials`).
        endpoints.MapSwagger("/openapi/{documentName}.json")
            .WithMetadata(new OperatorEndpointMetadata())
            .RequireAuthorization(RolloutAuth.Policies.Viewer);
        endpoints.MapPrometheusScrapingEndpoint(MetricsPath)
            .WithMetadata(new OperatorEndpointMetadata())
            .RequireAuthorization(RolloutAuth.Policies.Viewer);
        endpoints.MapZteRolloutConsole();
        if (endpoints.ServiceProvider.GetRequiredService<IOptions<OperatorOptions>>().Value.OrleansDashboard)
        {
            endpoints.MapZteRolloutOrleansDashboard();
        }

        return endpoints;
    }
}
