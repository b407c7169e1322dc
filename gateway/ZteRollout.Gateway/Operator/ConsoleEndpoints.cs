using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ZteRollout.Admin.V1;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Blobs;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using FleetStatus = ZteRollout.Admin.V1.FleetStatus;
using Package = ZteRollout.Admin.V1.Package;

namespace ZteRollout.Gateway.Operator;

/// <summary>
/// The operator console (server-rendered HTML under <c>/console</c>, htmx for the live parts): sign in with an API key,
/// campaigns (list, create from a YAML plan after a check and dry run, a live page with actions by role), the fleet
/// freeze, packages (list, details, upload) and device lookup. Actions call the grains as the admin service does, with
/// the same role rules (<see cref="ConsoleSession"/>): a button the role does not see is also refused when posted.
/// </summary>
public static class ConsoleEndpoints
{
    public static IEndpointRouteBuilder MapZteRolloutConsole(this IEndpointRouteBuilder endpoints)
    {
        var console = endpoints.MapGroup("/console").WithMetadata(new OperatorEndpointMetadata()).DisableAntiforgery();
        endpoints.MapGet("/", () => Results.Redirect("/console")).WithMetadata(new OperatorEndpointMetadata());
        var course = new CampaignCourse();
        console.MapConsoleAssets();

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

        console.MapGet("", (HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            Signed(context, session, who => CampaignListAsync(who, grains, null, StatusCodes.Status200OK)));

        console.MapPost("/fleet/{action}", (string action, HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            SignedPost(context, session, async who =>
            {
                if (action is not ("freeze" or "unfreeze"))
                {
                    return Html(ConsolePages.Problem(who, $"Unknown fleet action '{action}'."), StatusCodes.Status404NotFound);
                }

                if (!ConsoleSession.MayFreeze(who))
                {
                    return await CampaignListAsync(who, grains, RoleRefusal(who, action + " the fleet"), StatusCodes.Status403Forbidden);
                }

                var reason = (await context.Request.ReadFormAsync(context.RequestAborted))["reason"].ToString();
                if (string.IsNullOrWhiteSpace(reason))
                {
                    return await CampaignListAsync(who, grains, $"reason: a {(action == "freeze" ? "freeze" : "unfreeze")} needs a reason", StatusCodes.Status400BadRequest);
                }

                var directory = grains.GetGrain<ICampaignDirectoryGrain>(0);
                _ = action == "freeze" ? await directory.FreezeAsync(who.Name, reason) : await directory.UnfreezeAsync(who.Name, reason);
                return Results.Redirect("/console");
            }));

        console.MapGet("/campaigns/new", (HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            Signed(context, session, async who => Html(ConsolePages.NewCampaign(who, await FleetAsync(grains), "", SamplePlan, null, null))));

        console.MapPost("/campaigns/new", (HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            SignedPost(context, session, async who =>
            {
                var form = await context.Request.ReadFormAsync(context.RequestAborted);
                var campaignId = form["campaignId"].ToString().Trim();
                var planText = form["plan"].ToString();
                if (form.Files.GetFile("planFile") is { Length: > 0 } file)
                {
                    if (file.Length > MaxPlanBytes)
                    {
                        return Html(ConsolePages.NewCampaign(who, await FleetAsync(grains), campaignId, planText, null, $"planFile: a plan file holds at most {MaxPlanBytes} bytes"), StatusCodes.Status400BadRequest);
                    }

                    using var reader = new StreamReader(file.OpenReadStream(), Encoding.UTF8);
                    planText = await reader.ReadToEndAsync(context.RequestAborted);
                }

                var create = form["intent"].ToString() == "create";
                if (create && !ConsoleSession.MayManage(who))
                {
                    return Html(ConsolePages.NewCampaign(who, await FleetAsync(grains), campaignId, planText, null, RoleRefusal(who, "create campaigns")), StatusCodes.Status403Forbidden);
                }

                CampaignPlan plan;
                try
                {
                    plan = Cli.PlanFile.Parse(planText, "plan", json: planText.TrimStart().StartsWith('{'));
                }
                catch (Cli.InputException e)
                {
                    return Html(ConsolePages.NewCampaign(who, await FleetAsync(grains), campaignId, planText, new ConsolePages.PlanCheck(e.Message, null), null), StatusCodes.Status400BadRequest);
                }

                var request = new CreateCampaignRequest { CampaignId = campaignId, Plan = plan };
                try
                {
                    var validation = await CampaignValidation.ValidateAsync(grains, request);
                    if (!create || !validation.Valid)
                    {
                        return Html(ConsolePages.NewCampaign(who, await FleetAsync(grains), campaignId, planText, new ConsolePages.PlanCheck(null, validation), null),
                            validation.Valid ? StatusCodes.Status200OK : StatusCodes.Status400BadRequest);
                    }

                    var id = AdminRequests.ValidateCampaignId(campaignId, allowEmpty: true);
                    var created = await grains.Campaign(id).CreateAsync(AdminRequests.ToPlan(plan), who.Name);
                    return Results.Redirect("/console/campaigns/" + Uri.EscapeDataString(created.CampaignId));
                }
                catch (RolloutException e)
                {
                    var check = e.Violations.Count == 0 ? null : new ConsolePages.PlanCheck(null, ToValidation(e));
                    return Html(ConsolePages.NewCampaign(who, await FleetAsync(grains), campaignId, planText, check, e.Message), StatusOf(e));
                }
            }));

        console.MapGet("/campaigns/{campaignId}", (string campaignId, HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            Signed(context, session, who => CampaignPageAsync(who, campaignId, grains, course, error: null, StatusCodes.Status200OK)));

        console.MapGet("/campaigns/{campaignId}/live", (string campaignId, HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            Signed(context, session, async who =>
            {
                try
                {
                    var campaign = grains.Campaign(AdminRequests.ValidateCampaignId(campaignId, allowEmpty: false));
                    var view = AdminRequests.ToProto(await campaign.GetLatestViewAsync(), withAudit: true);
                    var shown = context.Request.Query["shown"].ToString();
                    return Html(ConsolePages.Live(who, view, await FleetAsync(grains), course.Record(view), shown));
                }
                catch (RolloutException e)
                {
                    return Results.Content(e.Message, "text/plain; charset=utf-8", Encoding.UTF8, StatusOf(e));
                }
            }));

        console.MapPost("/campaigns/{campaignId}/{action}", (string campaignId, string action, HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            SignedPost(context, session, async who =>
            {
                if (!ConsoleSession.Actions.Contains(action))
                {
                    return Html(ConsolePages.Problem(who, $"Unknown action '{action}'."), StatusCodes.Status404NotFound);
                }

                if (!ConsoleSession.MayEver(who, action))
                {
                    return await CampaignPageAsync(who, campaignId, grains, course, RoleRefusal(who, action + " campaigns"), StatusCodes.Status403Forbidden);
                }

                var reason = (await context.Request.ReadFormAsync(context.RequestAborted))["reason"].ToString();
                try
                {
                    var campaign = grains.Campaign(AdminRequests.ValidateCampaignId(campaignId, allowEmpty: false));
                    var maySresume = who.Role is RolloutAuth.Roles.Sre or RolloutAuth.Roles.Admin;
                    _ = action switch
                    {
                        "start" => await campaign.StartAsync(who.Name, reason),
                        "pause" => await campaign.PauseAsync(who.Name, reason),
                        "resume" => await campaign.ResumeAsync(who.Name, reason, maySresume),
                        "advance" => await campaign.AdvanceAsync(who.Name, reason),
                        "halt" => await campaign.HaltAsync(who.Name, reason),
                        _ => await campaign.CancelAsync(who.Name, reason),
                    };
                }
                catch (RolloutException e)
                {
                    return await CampaignPageAsync(who, campaignId, grains, course, e.Message, StatusOf(e));
                }

                // Post/redirect/get: a reload does not repeat the action.
                return Results.Redirect("/console/campaigns/" + Uri.EscapeDataString(campaignId));
            }));

        console.MapGet("/packages", (HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            Signed(context, session, async who =>
            {
                var packages = await grains.GetGrain<IPackageCatalogGrain>(0).ListAsync(null);
                return Html(ConsolePages.Packages(who, await FleetAsync(grains), packages.Select(AdminRequests.ToProto)));
            }));

        console.MapGet("/packages/{packageId}", (string packageId, HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            Signed(context, session, async who =>
            {
                if (await grains.GetGrain<IPackageCatalogGrain>(0).GetAsync(packageId) is not { } record)
                {
                    return Html(ConsolePages.Problem(who, $"package '{packageId}' does not exist"), StatusCodes.Status404NotFound);
                }

                var package = AdminRequests.ToProto(record);
                package.Deltas.AddRange((await grains.GetGrain<IDeltaGenerationGrain>(0).ListAsync(package.PackageId)).Select(AdminRequests.ToProto));
                return Html(ConsolePages.PackageDetails(who, await FleetAsync(grains), package, Encoding.UTF8.GetString(package.Manifest.Span)));
            }));

        console.MapPost("/packages/upload", (HttpContext context, ConsoleSession session, IGrainFactory grains, BlobStore blobs, IOptions<GatewayOptions> options) =>
            SignedPost(context, session, async who =>
            {
                if (!ConsoleSession.MayManage(who))
                {
                    return Html(ConsolePages.UploadResult(null, RoleRefusal(who, "upload packages")), StatusCodes.Status403Forbidden);
                }

                try
                {
                    var package = await UploadAsync(context, grains, blobs, options.Value);
                    return Html(ConsolePages.UploadResult(package, null));
                }
                catch (RolloutException e)
                {
                    return Html(ConsolePages.UploadResult(null, e.Message), StatusOf(e));
                }
            }));

        console.MapGet("/devices", (HttpContext context, ConsoleSession session, IGrainFactory grains) =>
            Signed(context, session, async who =>
            {
                var fleet = await FleetAsync(grains);
                var deviceId = context.Request.Query["id"].ToString().Trim();
                if (deviceId.Length == 0)
                {
                    return Html(ConsolePages.Devices(who, fleet, "", null, null, null));
                }

                if (Shared.Devices.DeviceIdentity.ValidateId(deviceId) is { } problem)
                {
                    return Html(ConsolePages.Devices(who, fleet, deviceId, null, null, "id: " + problem), StatusCodes.Status400BadRequest);
                }

                var device = grains.Device(deviceId);
                if (!await device.IsRegisteredAsync())
                {
                    return Html(ConsolePages.Devices(who, fleet, deviceId, null, null, $"device '{deviceId}' is not registered"), StatusCodes.Status404NotFound);
                }

                return Html(ConsolePages.Devices(who, fleet, deviceId, AdminRequests.ToProto(await device.GetViewAsync()), AdminRequests.ToProto(await device.ExplainAsync()), null));
            }));
        return endpoints;
    }

    /// <summary>The largest plan file the console reads.</summary>
    public const int MaxPlanBytes = 256 * 1024;

    /// <summary>The plan the form starts with: every key a first campaign needs, with a placeholder package id.</summary>
    public const string SamplePlan = """
        name: my campaign
        targets:
          - model: MODEL-A
            package_id: PACKAGE-ID
        eligibility:
          models: [MODEL-A]
        in_progress_timeout_seconds: 2h
        stages:
          - percent: 10
          - percent: 100
        halt:
          threshold:
            max_failure_rate: 0.05
            min_completed: 20
        """;

    private static async Task<IResult> Signed(HttpContext context, ConsoleSession session, Func<ApiKeyIdentity, Task<IResult>> page) =>
        session.Current(context) is { } who ? await page(who) : Results.Redirect("/console/sign-in");

    private static async Task<IResult> SignedPost(HttpContext context, ConsoleSession session, Func<ApiKeyIdentity, Task<IResult>> action)
    {
        if (session.Current(context) is not { } who)
        {
            return Results.Redirect("/console/sign-in");
        }

        return SameOrigin(context)
            ? await action(who)
            : Html(ConsolePages.Problem(who, "The form was posted from another site."), StatusCodes.Status403Forbidden);
    }

    private static string RoleRefusal(ApiKeyIdentity who, string what) => $"Key '{who.Name}' has role '{who.Role}', which may not {what}.";

    private static async Task<FleetStatus> FleetAsync(IGrainFactory grains) =>
        AdminRequests.ToProto(await grains.GetGrain<ICampaignDirectoryGrain>(0).GetFleetStatusAsync());

    private static async Task<IResult> CampaignListAsync(ApiKeyIdentity who, IGrainFactory grains, string? error, int status)
    {
        var directory = grains.GetGrain<ICampaignDirectoryGrain>(0);
        var ids = await directory.ListAsync(null);
        var views = await Task.WhenAll(ids.Select(id => grains.Campaign(id).GetAsync()));
        var fleet = AdminRequests.ToProto(await directory.GetFleetStatusAsync());
        return Html(ConsolePages.CampaignList(who, views.Select(v => AdminRequests.ToProto(v, withAudit: false)), fleet, error), status);
    }

    private static async Task<IResult> CampaignPageAsync(ApiKeyIdentity who, string campaignId, IGrainFactory grains, CampaignCourse course, string? error, int status)
    {
        try
        {
            var view = AdminRequests.ToProto(await grains.Campaign(AdminRequests.ValidateCampaignId(campaignId, allowEmpty: false)).GetAsync(), withAudit: true);
            return Html(ConsolePages.CampaignPage(who, view, await FleetAsync(grains), error, course.Record(view)), status);
        }
        catch (RolloutException e)
        {
            return Html(ConsolePages.Problem(who, e.Message), StatusOf(e));
        }
    }

    /// <summary>Stores an uploaded package as the admin API's UploadPackage does: metadata checked first, bytes hashed, the catalog signs.</summary>
    private static async Task<Package> UploadAsync(HttpContext context, IGrainFactory grains, BlobStore blobs, GatewayOptions options)
    {
        var ct = context.RequestAborted;
        var form = await context.Request.ReadFormAsync(ct);
        if (!uint.TryParse(form["securityVersion"].ToString() is { Length: > 0 } sv ? sv : "0", out var securityVersion))
        {
            throw RolloutException.InvalidField("securityVersion", "must be a whole number, 0 or more");
        }

        var declared = new Admin.V1.PackageMetadata
        {
            Version = form["version"].ToString().Trim(),
            Kind = form["kind"].ToString() == "DELTA" ? Admin.V1.PackageKind.Delta : Admin.V1.PackageKind.Full,
            BaseVersion = form["baseVersion"].ToString().Trim(),
            ReleaseNotes = form["releaseNotes"].ToString(),
            SecurityVersion = securityVersion,
        };
        declared.TargetModels.AddRange(form["models"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var metadata = AdminRequests.ToMetadata(declared);
        if (form.Files.GetFile("file") is not { Length: > 0 } file)
        {
            throw RolloutException.InvalidField("file", "the package has no bytes");
        }

        await using var pending = blobs.BeginUpload(options.MaxPackageBytes);
        await using (var source = file.OpenReadStream())
        {
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await source.ReadAsync(buffer, ct)) > 0)
            {
                await pending.AppendAsync(buffer.AsMemory(0, read), ct);
            }
        }

        var sha256 = await pending.CommitAsync(ct);
        var package = AdminRequests.ToProto(await grains.GetGrain<IPackageCatalogGrain>(0).RegisterAsync(metadata, pending.Length, sha256));
        if (metadata.Kind == Shared.Packages.PackageKind.Full && PayloadProbe.UploadWarning(await blobs.ReadHeadAsync(sha256, PayloadProbe.SampleBytes, ct)) is { } warning)
        {
            package.Warnings.Add(warning);
        }

        return package;
    }

    private static ValidateCampaignResponse ToValidation(RolloutException e)
    {
        var response = new ValidateCampaignResponse { Valid = false };
        response.Problems.AddRange(e.Violations.Select(v => new FieldProblem { Field = v.Field, Description = v.Description }));
        return response;
    }

    private static int StatusOf(RolloutException e) => e.Kind switch
    {
        RolloutErrorKind.NotFound => StatusCodes.Status404NotFound,
        RolloutErrorKind.PermissionDenied => StatusCodes.Status403Forbidden,
        RolloutErrorKind.AlreadyExists or RolloutErrorKind.FailedPrecondition => StatusCodes.Status409Conflict,
        RolloutErrorKind.ResourceExhausted => StatusCodes.Status429TooManyRequests,
        RolloutErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status400BadRequest,
    };

    /// <summary>
    /// A form post must come from the console itself. The SameSite=Strict cookie already keeps other sites' posts
    /// unauthenticated; the Origin check covers browsers that send the cookie anyway.
    /// </summary>
    private static bool SameOrigin(HttpContext context) =>
        context.Request.Headers.Origin.ToString() is not { Length: > 0 } origin
        || (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && string.Equals(uri.Authority, context.Request.Host.Value, StringComparison.OrdinalIgnoreCase));

    private static IResult Html(string html, int status = StatusCodes.Status200OK) =>
        Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);
}
