using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Operator;

/// <summary>
/// The operator console (server-rendered HTML under <c>/console</c>): sign in with an API key, the campaign list, a
/// campaign's page with halt and resume by role. Actions call the campaign grain as the admin service does, with
/// the same role rules (<see cref="ConsoleSession.MayHalt"/>, <see cref="ConsoleSession.MayResume"/>).
/// </summary>
public static class ConsoleEndpoints
{
    public static IEndpointRouteBuilder MapZteRolloutConsole(this IEndpointRouteBuilder endpoints)
    {
        var console = endpoints.MapGroup("/console").WithMetadata(new OperatorEndpointMetadata()).DisableAntiforgery();
        endpoints.MapGet("/", () => Results.Redirect("/console")).WithMetadata(new OperatorEndpointMetadata());

        console.MapGet("/sign-in", () => Html(ConsolePages.SignIn(null)));
        console.MapPost("/sign-in", async (HttpContext context, ConsoleSession session) =>
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            return session.SignIn(context, form["key"].ToString().Trim()) is null
                ? Html(ConsolePages.SignIn("That API key is not valid."), StatusCodes.Status401Unauthorized)
                : Results.Redirect("/console");
        });
        console.MapPost("/sign-out", (HttpContext context) =>
        {
            ConsoleSession.SignOut(context);
            return Results.Redirect("/console/sign-in");
        });

        console.MapGet("", async (HttpContext context, ConsoleSession session, IGrainFactory grains) =>
        {
            if (session.Current(context) is not { } who)
            {
                return Results.Redirect("/console/sign-in");
            }

            var directory = grains.GetGrain<ICampaignDirectoryGrain>(0);
            var ids = await directory.ListAsync(null);
            var views = await Task.WhenAll(ids.Select(id => grains.Campaign(id).GetAsync()));
            var fleet = AdminRequests.ToProto(await directory.GetFleetStatusAsync());
            return Html(ConsolePages.CampaignList(who, views.Select(v => AdminRequests.ToProto(v, withAudit: false)), fleet));
        });

        console.MapGet("/campaigns/{campaignId}", async (string campaignId, HttpContext context, ConsoleSession session, IGrainFactory grains) =>
        {
            if (session.Current(context) is not { } who)
            {
                return Results.Redirect("/console/sign-in");
            }

            return await CampaignPageAsync(who, campaignId, grains, error: null, StatusCodes.Status200OK);
        });

        console.MapPost("/campaigns/{campaignId}/{action}", async (string campaignId, string action, HttpContext context, ConsoleSession session, IGrainFactory grains) =>
        {
            if (session.Current(context) is not { } who)
            {
                return Results.Redirect("/console/sign-in");
            }

            if (!SameOrigin(context))
            {
                return Html(ConsolePages.Problem(who, "The form was posted from another site."), StatusCodes.Status403Forbidden);
            }

            var reason = (await context.Request.ReadFormAsync(context.RequestAborted))["reason"].ToString();
            try
            {
                var campaign = grains.Campaign(AdminRequests.ValidateCampaignId(campaignId, allowEmpty: false));
                var view = await campaign.GetAsync();
                var halted = view.State == Shared.Campaigns.CampaignState.Halted;
                switch (action)
                {
                    case "halt" when ConsoleSession.MayHalt(who):
                        await campaign.HaltAsync(who.Name, reason);
                        break;
                    case "resume" when ConsoleSession.MayResume(who, halted):
                        await campaign.ResumeAsync(who.Name, reason, who.Role is RolloutAuth.Roles.Sre or RolloutAuth.Roles.Admin);
                        break;
                    case "halt" or "resume":
                        return await CampaignPageAsync(who, campaignId, grains, $"Key '{who.Name}' has role '{who.Role}', which may not {action} this campaign.", StatusCodes.Status403Forbidden);
                    default:
                        return Html(ConsolePages.Problem(who, $"Unknown action '{action}'."), StatusCodes.Status404NotFound);
                }
            }
            catch (RolloutException e)
            {
                return await CampaignPageAsync(who, campaignId, grains, e.Message, e.Kind == RolloutErrorKind.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest);
            }

            // Post/redirect/get: a reload does not repeat the action.
            return Results.Redirect("/console/campaigns/" + Uri.EscapeDataString(campaignId));
        });
        return endpoints;
    }

    private static async Task<IResult> CampaignPageAsync(ApiKeyIdentity who, string campaignId, IGrainFactory grains, string? error, int status)
    {
        try
        {
            var view = await grains.Campaign(AdminRequests.ValidateCampaignId(campaignId, allowEmpty: false)).GetAsync();
            var fleet = AdminRequests.ToProto(await grains.GetGrain<ICampaignDirectoryGrain>(0).GetFleetStatusAsync());
            return Html(ConsolePages.CampaignPage(who, AdminRequests.ToProto(view, withAudit: true), fleet, error), status);
        }
        catch (RolloutException e)
        {
            return Html(ConsolePages.Problem(who, e.Message), e.Kind == RolloutErrorKind.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest);
        }
    }

    /// <summary>
    /// A form post must come from the console itself. The SameSite=Strict cookie already keeps other sites' posts
    /// unauthenticated; the Origin check covers browsers that send the cookie anyway.
    /// </summary>
    private static bool SameOrigin(HttpContext context) =>
        context.Request.Headers.Origin.ToString() is not { Length: > 0 } origin
        || (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && string.Equals(uri.Authority, context.Request.Host.Value, StringComparison.OrdinalIgnoreCase));

    private static IResult Html(string html, int status = StatusCodes.Status200OK) =>
        Results.Content(html, "text/html; charset=utf-8", System.Text.Encoding.UTF8, status);
}
