using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ZteRollout.Gateway.Ddi;

/// <summary>Marks the DDI endpoints, so the pipeline sends them past the admin authentication middleware.</summary>
public sealed class DdiEndpointMetadata;

/// <summary>
/// The hawkBit DDI v1 routes (docs/ddi.md): <c>/{tenant}/controller/v1/{controllerId}/…</c>, each answered by
/// <see cref="DdiService"/> with the same device grain calls as the gRPC device API.
/// </summary>
public static class DdiEndpoints
{
    public const string Root = "/{tenant}/controller/v1/{controllerId}";

    public static IEndpointRouteBuilder MapZteRolloutDdi(this IEndpointRouteBuilder endpoints)
    {
        var ddi = endpoints.ServiceProvider.GetRequiredService<DdiService>();
        var group = endpoints.MapGroup(Root).WithMetadata(new DdiEndpointMetadata());
        group.MapGet("", (HttpContext c, string tenant, string controllerId) => ddi.PollAsync(c, tenant, controllerId));
        group.MapPut("/configData", (HttpContext c, string tenant, string controllerId) => ddi.PutConfigDataAsync(c, tenant, controllerId));
        group.MapGet("/deploymentBase/{actionId}", (HttpContext c, string tenant, string controllerId, string actionId) =>
            ddi.GetDeploymentAsync(c, tenant, controllerId, actionId, installed: false));
        group.MapPost("/deploymentBase/{actionId}/feedback", (HttpContext c, string tenant, string controllerId, string actionId) =>
            ddi.PostDeploymentFeedbackAsync(c, tenant, controllerId, actionId));
        group.MapGet("/installedBase/{actionId}", (HttpContext c, string tenant, string controllerId, string actionId) =>
            ddi.GetDeploymentAsync(c, tenant, controllerId, actionId, installed: true));
        group.MapGet("/cancelAction/{actionId}", (HttpContext c, string tenant, string controllerId, string actionId) =>
            ddi.GetCancelAsync(c, tenant, controllerId, actionId));
        group.MapPost("/cancelAction/{actionId}/feedback", (HttpContext c, string tenant, string controllerId, string actionId) =>
            ddi.PostCancelFeedbackAsync(c, tenant, controllerId, actionId));
        group.MapGet("/softwaremodules/{moduleId}/artifacts", (HttpContext c, string tenant, string controllerId, string moduleId) =>
            ddi.ListArtifactsAsync(c, tenant, controllerId, moduleId));
        group.MapMethods("/softwaremodules/{moduleId}/artifacts/{fileName}", [HttpMethods.Get, HttpMethods.Head],
            (HttpContext c, string tenant, string controllerId, string moduleId, string fileName) =>
                ddi.DownloadAsync(c, tenant, controllerId, moduleId, fileName));
        return endpoints;
    }
}
