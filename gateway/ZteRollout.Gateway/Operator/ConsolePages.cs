using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using ZteRollout.Admin.V1;
using ZteRollout.Gateway.Auth;
using DeviceView = ZteRollout.Admin.V1.Device;

namespace ZteRollout.Gateway.Operator;

/// <summary>
/// The console's pages, rendered on the server from the admin API's messages: HTML with an inline stylesheet and the
/// vendored htmx script (served from the build, <see cref="ConsoleAssets"/>), nothing fetched from elsewhere. Every
/// value is HTML-encoded where it is written (<see cref="E(string?)"/>); the live part of a campaign's page is a
/// fragment htmx polls and swaps in.
/// </summary>
public static class ConsolePages
{
    private static string E(string? text) => HtmlEncoder.Default.Encode(text ?? "");

    private static string E(object value) => E(Convert.ToString(value, CultureInfo.InvariantCulture));

    private static string Percent(double value) => E(value.ToString("P1", CultureInfo.InvariantCulture));

    private static string Path(string campaignId) => "/console/campaigns/" + E(Uri.EscapeDataString(campaignId));

    private const string Style = """
        body{font-family:system-ui,sans-serif;margin:0;color:#1d2330}header{background:#1d2330;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}
        header a{color:#fff}header .who{margin-left:auto}main{padding:1rem}table{border-collapse:collapse;margin-bottom:1rem}td,th{border-bottom:1px solid #ccd;padding:.3rem .6rem;text-align:left}
        .state{font-weight:600}.HALTED{color:#b00020}.RUNNING{color:#0a7a2f}.PAUSED{color:#a15c00}.error{background:#fde7ea;border:1px solid #b00020;padding:.5rem;margin:.5rem 0}
        .banner{background:#fff3cd;border:1px solid #a15c00;padding:.5rem;margin:.5rem 0;font-weight:600}.ok{background:#e6f4ea;border:1px solid #0a7a2f;padding:.5rem;margin:.5rem 0}
        .bar{background:#e4e7ee;width:12rem;height:.7rem;display:inline-block}.bar span{background:#0a7a2f;height:100%;display:block}
        form.action{margin:.5rem 0;display:inline-block;border:1px solid #ccd;padding:.4rem;margin-right:.5rem}input[type=text],input[type=password]{width:22rem}
        .columns{display:flex;gap:1.5rem;flex-wrap:wrap}.columns>*{flex:1 1 28rem}textarea{width:100%;font-family:ui-monospace,monospace;font-size:.85rem}
        tr.blamed{background:#fde7ea;font-weight:600}.problems li{color:#b00020}.charts{display:flex;gap:1rem;flex-wrap:wrap}pre{background:#f6f7fa;padding:.5rem;overflow:auto}
        """;

    private static string Layout(string title, ApiKeyIdentity? who, string body, FleetStatus? fleet = null)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append(" · ZteRollout</title>");
        html.Append("<style>").Append(Style).Append("</style><script src=\"").Append(ConsoleAssets.HtmxPath).Append("\"></script></head><body><header><strong>ZteRollout</strong>");
        if (who is not null)
        {
            html.Append("<a href=\"/console\">Campaigns</a>");
            if (ConsoleSession.MayManage(who))
            {
                html.Append("<a href=\"/console/campaigns/new\">New campaign</a>");
            }

            html.Append("<a href=\"/console/packages\">Packages</a><a href=\"/console/devices\">Devices</a>");
            html.Append("<span class=\"who\">").Append(E(who.Name)).Append(" (").Append(E(who.Role)).Append(")</span>");
            html.Append("<form method=\"post\" action=\"/console/sign-out\"><button type=\"submit\">Sign out</button></form>");
        }

        html.Append("</header><main>");
        if (fleet is not null)
        {
            html.Append(FreezeBanner(fleet));
        }

        html.Append(body).Append("</main></body></html>");
        return html.ToString();
    }

    public static string SignIn(string? error) => Layout("Sign in", null, $"""
        <h1>Sign in</h1>
        {ErrorBox(error)}
        <form method="post" action="/console/sign-in">
          <label>Admin API key <input type="password" name="key" autocomplete="off" required></label>
          <button type="submit">Sign in</button>
        </form>
        <p>Use the key printed by the embedded node on its first start (or kept in its data directory), or one from <code>Rollout:Gateway:ApiKeys</code>.</p>
        """);

    public static string CampaignList(ApiKeyIdentity who, IEnumerable<Campaign> campaigns, FleetStatus fleet, string? error = null)
    {
        var rows = new StringBuilder();
        foreach (var c in campaigns)
        {
            rows.Append("<tr><td><a href=\"").Append(Path(c.CampaignId)).Append("\">").Append(E(c.CampaignId)).Append("</a></td>")
                .Append("<td>").Append(E(c.Plan?.Name)).Append("</td>")
                .Append("<td class=\"state ").Append(StateName(c.State)).Append("\">").Append(StateName(c.State)).Append("</td>")
                .Append("<td>").Append(E(c.CurrentStage + 1)).Append(" of ").Append(E(Math.Max(c.Stages.Count, 1))).Append("</td>")
                .Append("<td>").Append(Progress(c.Counts)).Append("</td>")
                .Append("<td>").Append(Percent(c.FailureRate)).Append("</td></tr>");
        }

        var freeze = "";
        if (ConsoleSession.MayFreeze(who))
        {
            freeze = fleet.Frozen
                ? ActionForm("/console/fleet/unfreeze", "unfreeze", "Unfreeze the fleet")
                : ActionForm("/console/fleet/freeze", "freeze", "Freeze the fleet");
        }

        return Layout("Campaigns", who, $"""
            {ErrorBox(error)}
            <h1>Campaigns</h1>
            <table id="campaigns"><thead><tr><th>Id</th><th>Name</th><th>State</th><th>Stage</th><th>Progress</th><th>Failure rate</th></tr></thead>
            <tbody>{rows}</tbody></table>
            <h2>Fleet</h2>
            <p id="fleet-state">{(fleet.Frozen ? "Frozen: no campaign makes new offers." : "Not frozen.")}</p>
            {freeze}
            """, fleet);
    }

    /// <summary>What the plan form shows after a check: the plan's problems, or its dry-run figures.</summary>
    public sealed record PlanCheck(string? ReadError, ValidateCampaignResponse? Validation);

    public static string NewCampaign(ApiKeyIdentity who, FleetStatus fleet, string campaignId, string planText, PlanCheck? check, string? error)
    {
        var result = new StringBuilder();
        var mayCreate = false;
        if (check?.ReadError is { } readError)
        {
            result.Append("<h2>Problems</h2><ul class=\"problems\" id=\"problems\"><li data-field=\"\">").Append(E(readError)).Append("</li></ul>");
        }
        else if (check?.Validation is { } validation)
        {
            if (validation.Problems.Count > 0)
            {
                result.Append("<h2>Problems</h2><ul class=\"problems\" id=\"problems\">");
                foreach (var problem in validation.Problems)
                {
                    result.Append("<li data-field=\"").Append(E(problem.Field)).Append("\"><code>").Append(E(problem.Field)).Append("</code>: ")
                        .Append(E(problem.Description)).Append("</li>");
                }

                result.Append("</ul>");
            }
            else
            {
                result.Append("<p class=\"ok\" id=\"plan-valid\">The plan is valid.</p>");
                mayCreate = ConsoleSession.MayManage(who);
            }

            result.Append("<h2>Dry run</h2><p>Eligible devices: <strong id=\"eligible\">").Append(E(validation.EligibleDevices)).Append("</strong></p>");
            if (validation.DevicesPerStage.Count > 0)
            {
                result.Append("<table id=\"per-stage\"><thead><tr><th>Stage</th><th>Devices</th></tr></thead><tbody>");
                for (var i = 0; i < validation.DevicesPerStage.Count; i++)
                {
                    result.Append("<tr><td>").Append(E(i + 1)).Append("</td><td>").Append(E(validation.DevicesPerStage[i])).Append("</td></tr>");
                }

                result.Append("</tbody></table>");
            }
        }

        return Layout("New campaign", who, $"""
            <h1>New campaign</h1>
            {ErrorBox(error)}
            <form method="post" action="/console/campaigns/new" enctype="multipart/form-data" class="columns">
              <div>
                <p><label>Campaign id (empty: the server picks one) <input type="text" name="campaignId" value="{E(campaignId)}"></label></p>
                <p><label>Plan file (YAML or JSON) <input type="file" name="planFile" accept=".yaml,.yml,.json,text/yaml"></label> or paste it:</p>
                <textarea name="plan" id="plan" rows="24" spellcheck="false">{E(planText)}</textarea>
                <p><button type="submit" name="intent" value="check" id="check">Check plan</button>
                {(mayCreate ? "<button type=\"submit\" name=\"intent\" value=\"create\" id=\"create\" onclick=\"return confirm('Create this campaign (as a draft)?')\">Create campaign</button>" : "")}</p>
              </div>
              <div id="plan-result">{result}</div>
            </form>
            <p>Keys are the <code>CampaignPlan</code> fields of the admin API (snake_case), as in <code>zte-rollout campaigns create --plan</code>.</p>
            """, fleet);
    }

    /// <summary>A campaign's page: the live part (polled every second) and the actions the signed-in role may take in its state.</summary>
    public static string CampaignPage(ApiKeyIdentity who, Campaign c, FleetStatus fleet, string? error, IReadOnlyList<CampaignCoursePoint> course) =>
        Layout(c.CampaignId, who, $"""
            <div id="fleet-banner">{FreezeBanner(fleet)}</div>
            <h1>{E(c.Plan?.Name)} <small>({E(c.CampaignId)})</small></h1>
            {ErrorBox(error)}
            {Actions(who, c, outOfBand: false)}
            <div id="live" hx-get="{Path(c.CampaignId)}/live" hx-trigger="every 1s" hx-include="#shown-state" hx-swap="innerHTML">{Live(who, c, fleet, course, shownState: null)}</div>
            """);

    /// <summary>
    /// The live part of a campaign's page. When the page shows actions for another state than the campaign's now
    /// (<paramref name="shownState"/>), the actions are sent along out of band, so a halt by policy turns Halt into Resume.
    /// </summary>
    public static string Live(ApiKeyIdentity who, Campaign c, FleetStatus fleet, IReadOnlyList<CampaignCoursePoint> course, string? shownState)
    {
        var counts = c.Counts ?? new CampaignCounts();
        var halted = c.State == CampaignState.Halted;
        var blame = c.Halt?.Blame is { Value.Length: > 0 } b ? b : null;
        var html = new StringBuilder();
        html.Append("<p>State <span class=\"state ").Append(StateName(c.State)).Append("\" id=\"state\">").Append(StateName(c.State)).Append("</span>, stage ")
            .Append(E(c.CurrentStage + 1)).Append(" of ").Append(E(Math.Max(c.Stages.Count, 1))).Append(". Gate: <span id=\"gate\">").Append(E(c.GateStatus)).Append("</span></p>");
        if (c.Halt is { } halt && halted)
        {
            html.Append("<p class=\"error\" id=\"halt\">Halted by ").Append(E(halt.By)).Append(": ").Append(E(halt.Reason));
            if (blame is not null)
            {
                html.Append(" — blamed cohort <strong id=\"blame\">").Append(E(blame.Dimension)).Append('=').Append(E(blame.Value)).Append("</strong> (")
                    .Append(E(blame.FailuresInCohort)).Append(" failed of ").Append(E(blame.CompletedInCohort)).Append(", mostly ").Append(E(blame.TopErrorCode)).Append(')');
            }

            html.Append("</p>");
        }

        html.Append("<p>Progress ").Append(Progress(counts)).Append("; failure rate <strong id=\"failure-rate\">").Append(Percent(c.FailureRate)).Append("</strong> (95 % interval ")
            .Append(Percent(c.FailureRateLow)).Append('–').Append(Percent(c.FailureRateHigh)).Append("); sequential statistic <span id=\"statistic\">")
            .Append(E(c.HaltStatistic.ToString("0.00", CultureInfo.InvariantCulture))).Append("</span> of boundary <span id=\"boundary\">")
            .Append(E(c.HaltBoundary.ToString("0.00", CultureInfo.InvariantCulture))).Append("</span>.</p>");
        if (c.HaltedCohorts.Count > 0)
        {
            // Cohort-scoped halts (plan halt_scope: cohort): these cohorts get no new offers; the rest goes on.
            html.Append("<h2>Halted cohorts</h2><ul id=\"halted-cohorts\">");
            foreach (var h in c.HaltedCohorts)
            {
                html.Append("<li class=\"blamed\"><strong>").Append(E(h.Dimension)).Append('=').Append(E(h.Value)).Append("</strong> by ").Append(E(h.By))
                    .Append(" at ").Append(E(h.At?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture) ?? "—")).Append(": ").Append(E(h.Reason))
                    .Append(" (").Append(E(h.Figures)).Append(")</li>");
            }

            html.Append("</ul><p>An SRE lifts one with <code>zte-rollout campaigns lift-cohort-halt ").Append(E(c.CampaignId))
                .Append(" --cohort DIMENSION=VALUE --reason TEXT</code>.</p>");
        }

        html.Append("<table id=\"counts\"><tr><th>Offered</th><th>In progress</th><th>Installed</th><th>Pending confirmation</th><th>Succeeded</th><th>Failed</th><th>Rolled back</th><th>Timed out</th><th>Deferred</th><th>Canceled</th></tr><tr>");
        foreach (var (name, value) in new[] { ("offered", counts.Offered), ("in-progress", counts.InProgress), ("installed", counts.Installed), ("pending-confirmation", counts.PendingConfirmation),
                     ("succeeded", counts.Succeeded), ("failed", counts.Failed), ("rolled-back", counts.RolledBack), ("timed-out", counts.TimedOut), ("deferred", counts.Deferred), ("canceled", counts.Canceled) })
        {
            html.Append("<td data-count=\"").Append(name).Append("\">").Append(E(value)).Append("</td>");
        }

        html.Append("</tr></table>");

        html.Append("<h2>Stages</h2><table id=\"stages\"><thead><tr><th>Stage</th><th>Percent</th><th>Started</th><th>Progress</th><th>Succeeded</th><th>Pending confirmation</th><th>Failed</th><th>In progress</th></tr></thead><tbody>");
        foreach (var stage in c.Stages)
        {
            var sc = stage.Counts ?? new CampaignCounts();
            html.Append("<tr").Append(stage.Index == c.CurrentStage ? " class=\"current\"" : "").Append("><td>").Append(E(stage.Index + 1)).Append("</td><td>")
                .Append(E((stage.Plan?.Percent ?? 100).ToString("0.##", CultureInfo.InvariantCulture))).Append(" %</td><td>")
                .Append(E(stage.StartedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture) ?? "—")).Append("</td><td>").Append(Progress(sc)).Append("</td><td>")
                .Append(E(sc.Succeeded)).Append("</td><td>").Append(E(sc.PendingConfirmation)).Append("</td><td>").Append(E(sc.Failed + sc.RolledBack + sc.TimedOut)).Append("</td><td>").Append(E(sc.InProgress)).Append("</td></tr>");
        }

        html.Append("</tbody></table>");

        var threshold = c.Plan?.Halt?.Threshold is { MaxFailureRate: > 0 } t ? t.MaxFailureRate : (double?)null;
        var boundary = c.Plan?.Halt?.Sequential is not null && c.HaltBoundary > 0 ? c.HaltBoundary : (double?)null;
        html.Append("<h2>Course</h2><div class=\"charts\" id=\"charts\">").Append(ConsoleChart.FailureRate(course, threshold))
            .Append(boundary is null ? "<p id=\"no-sequential\">The plan has no sequential halt policy: no statistic to chart.</p>" : ConsoleChart.SequentialStatistic(course, boundary))
            .Append("</div>");

        html.Append("<div class=\"columns\"><div><h2>Cohorts</h2><table id=\"cohorts\"><thead><tr><th>Dimension</th><th>Value</th><th>Completed</th><th>Failures</th><th>Failure rate</th></tr></thead><tbody>");
        foreach (var cohort in c.Cohorts)
        {
            var isBlamed = blame is not null && blame.Dimension == cohort.Dimension && blame.Value == cohort.Value;
            html.Append("<tr").Append(isBlamed ? " class=\"blamed\"" : "").Append("><td>").Append(E(cohort.Dimension)).Append("</td><td>").Append(E(cohort.Value)).Append("</td><td>")
                .Append(E(cohort.Completed)).Append("</td><td>").Append(E(cohort.Failures)).Append("</td><td>")
                .Append(Percent(cohort.Completed == 0 ? 0 : (double)cohort.Failures / cohort.Completed)).Append("</td></tr>");
        }

        html.Append("</tbody></table></div><div><h2>Error codes</h2><table id=\"error-codes\"><thead><tr><th>Code</th><th>Failures</th></tr></thead><tbody>");
        foreach (var code in c.ErrorCodes)
        {
            html.Append("<tr><td>").Append(E(code.ErrorCode)).Append("</td><td>").Append(E(code.Count)).Append("</td></tr>");
        }

        html.Append("</tbody></table></div></div>");

        html.Append("<h2>Audit log</h2><table id=\"audit\"><thead><tr><th>At</th><th>Who</th><th>Action</th><th>Reason</th><th>Figures</th></tr></thead><tbody>");
        foreach (var entry in c.Audit)
        {
            html.Append("<tr><td>").Append(E(entry.At?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture))).Append("</td><td>").Append(E(entry.Actor))
                .Append("</td><td>").Append(E(entry.Action)).Append("</td><td>").Append(E(entry.Reason)).Append("</td><td>").Append(E(entry.Figures)).Append("</td></tr>");
        }

        html.Append("</tbody></table>");

        // The actions and the freeze banner sit outside the polled part: a poll replaces the actions (out of band) only
        // when the state moved, so a reason being typed is not wiped every second.
        if (shownState is not null)
        {
            if (shownState != StateName(c.State))
            {
                html.Append(Actions(who, c, outOfBand: true));
            }

            html.Append("<div id=\"fleet-banner\" hx-swap-oob=\"true\">").Append(FreezeBanner(fleet)).Append("</div>");
        }

        return html.ToString();
    }

    private static string Actions(ApiKeyIdentity who, Campaign c, bool outOfBand)
    {
        var html = new StringBuilder();
        html.Append("<section id=\"actions\"").Append(outOfBand ? " hx-swap-oob=\"true\"" : "").Append("><h2>Actions</h2>");
        html.Append("<input type=\"hidden\" id=\"shown-state\" name=\"shown\" value=\"").Append(StateName(c.State)).Append("\">");
        var any = false;
        foreach (var action in ConsoleSession.Actions)
        {
            if (ConsoleSession.MayAct(who, action, c.State))
            {
                html.Append(ActionForm(Path(c.CampaignId) + "/" + action, action, char.ToUpperInvariant(action[0]) + action[1..]));
                any = true;
            }
        }

        if (!any)
        {
            html.Append("<p>None for your role in this state.</p>");
        }

        return html.Append("</section>").ToString();
    }

    public static string Packages(ApiKeyIdentity who, FleetStatus fleet, IEnumerable<Package> packages)
    {
        var rows = new StringBuilder();
        foreach (var p in packages)
        {
            rows.Append("<tr><td><a href=\"/console/packages/").Append(E(Uri.EscapeDataString(p.PackageId))).Append("\">").Append(E(p.PackageId)).Append("</a></td><td>")
                .Append(E(p.Metadata?.Version)).Append("</td><td>").Append(E(string.Join(", ", p.Metadata?.TargetModels ?? []))).Append("</td><td>")
                .Append(E(KindName(p.Metadata?.Kind ?? PackageKind.Unspecified))).Append("</td><td>").Append(E(p.Size)).Append("</td><td>")
                .Append(E(p.CreatedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture))).Append("</td></tr>");
        }

        var upload = ConsoleSession.MayManage(who) ? """
            <h2>Upload a package</h2>
            <form id="upload" hx-post="/console/packages/upload" hx-encoding="multipart/form-data" hx-target="#upload-result" hx-swap="innerHTML">
              <p><label>Package file <input type="file" name="file" required></label></p>
              <p><label>Version <input type="text" name="version" required></label></p>
              <p><label>Target models (comma separated) <input type="text" name="models" required></label></p>
              <p><label>Kind <select name="kind"><option value="FULL">FULL</option><option value="DELTA">DELTA</option></select></label>
                 <label>Base version (delta) <input type="text" name="baseVersion"></label></p>
              <p><label>Security version <input type="number" name="securityVersion" min="0" value="0"></label></p>
              <p><label>Release notes <input type="text" name="releaseNotes"></label></p>
              <p><button type="submit">Upload</button> <progress id="upload-progress" value="0" max="100"></progress></p>
            </form>
            <div id="upload-result"></div>
            <script>
              htmx.on('#upload', 'htmx:xhr:progress', function (e) {
                if (e.detail.lengthComputable) { document.getElementById('upload-progress').value = e.detail.loaded / e.detail.total * 100; }
              });
            </script>
            """ : "";
        return Layout("Packages", who, $"""
            <h1>Packages</h1>
            <table id="packages"><thead><tr><th>Id</th><th>Version</th><th>Models</th><th>Kind</th><th>Bytes</th><th>Stored</th></tr></thead><tbody>{rows}</tbody></table>
            {upload}
            """, fleet);
    }

    public static string UploadResult(Package? package, string? error) => package is null
        ? $"<p class=\"error\" role=\"alert\" id=\"upload-error\">{E(error)}</p>"
        : $"<p class=\"ok\" id=\"upload-done\">Stored <a href=\"/console/packages/{E(Uri.EscapeDataString(package.PackageId))}\">{E(package.PackageId)}</a> ({E(package.Size)} bytes, SHA-256 {E(package.Sha256)}).</p>"
          + string.Concat(package.Warnings.Select(w => $"<p class=\"banner\">{E(w)}</p>"));

    public static string PackageDetails(ApiKeyIdentity who, FleetStatus fleet, Package p, string manifestText)
    {
        var deltas = new StringBuilder();
        foreach (var d in p.Deltas)
        {
            deltas.Append("<li>").Append(E(d.ToString())).Append("</li>");
        }

        var m = p.Metadata ?? new PackageMetadata();
        return Layout(p.PackageId, who, $"""
            <h1>Package {E(p.PackageId)}</h1>
            <table id="package">
              <tr><th>Version</th><td>{E(m.Version)}</td></tr>
              <tr><th>Models</th><td>{E(string.Join(", ", m.TargetModels))}</td></tr>
              <tr><th>Kind</th><td>{E(KindName(m.Kind))}{(m.BaseVersion.Length > 0 ? " over " + E(m.BaseVersion) : "")}</td></tr>
              <tr><th>Bytes</th><td>{E(p.Size)}</td></tr>
              <tr><th>SHA-256</th><td><code>{E(p.Sha256)}</code></td></tr>
              <tr><th>Security version</th><td>{E(m.SecurityVersion)}</td></tr>
              <tr><th>Release notes</th><td>{E(m.ReleaseNotes)}</td></tr>
            </table>
            <h2>Signed manifest</h2>
            <pre id="manifest">{E(manifestText)}</pre>
            <p>Signature (base64): <code id="signature">{E(Convert.ToBase64String(p.ManifestSignature.Span))}</code></p>
            <h2>Deltas</h2><ul>{deltas}</ul>
            """, fleet);
    }

    public static string Devices(ApiKeyIdentity who, FleetStatus fleet, string deviceId, DeviceView? device, DeviceExplanation? explanation, string? error)
    {
        var body = new StringBuilder();
        body.Append("<h1>Devices</h1><form method=\"get\" action=\"/console/devices\"><label>Device id <input type=\"text\" name=\"id\" value=\"")
            .Append(E(deviceId)).Append("\" required></label> <button type=\"submit\">Look up</button></form>").Append(ErrorBox(error));
        if (device is not null)
        {
            body.Append("<h2>").Append(E(device.DeviceId)).Append("</h2><table id=\"device\">")
                .Append("<tr><th>Version</th><td>").Append(E(device.CurrentVersion)).Append("</td></tr>")
                .Append("<tr><th>Active slot</th><td>").Append(E(device.ActiveSlot)).Append("</td></tr>")
                .Append("<tr><th>Last check-in</th><td>").Append(E(device.LastCheckIn?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture) ?? "never")).Append("</td></tr>")
                .Append("<tr><th>Tags</th><td>").Append(E(string.Join(", ", device.Tags))).Append("</td></tr>")
                .Append("<tr><th>Model</th><td>").Append(E(device.Facts?.Model)).Append("</td></tr></table>");
            body.Append("<h2>Offer</h2>").Append(device.CurrentOffer is { } offer ? OfferTable("offer", [offer]) : "<p id=\"offer\">No offer yet.</p>");
            body.Append("<h2>History</h2>").Append(OfferTable("history", device.History));
        }

        if (explanation is not null)
        {
            body.Append("<h2>Why it is or is not offered</h2><p id=\"explanation\">").Append(E(explanation.Summary)).Append("</p>")
                .Append("<table id=\"decisions\"><thead><tr><th>Campaign</th><th>Verdict</th><th>Stage</th><th>Detail</th></tr></thead><tbody>");
            foreach (var d in explanation.Campaigns)
            {
                body.Append("<tr><td>").Append(E(d.CampaignId)).Append("</td><td>").Append(E(d.Verdict)).Append("</td><td>").Append(d.Stage == 0 ? "—" : E(d.Stage))
                    .Append("</td><td>").Append(E(d.Detail)).Append("</td></tr>");
            }

            body.Append("</tbody></table><p>Judged on campaign snapshot ").Append(E(explanation.SnapshotVersion)).Append(".</p>");
        }

        return Layout("Devices", who, body.ToString(), fleet);
    }

    private static string OfferTable(string id, IEnumerable<OfferRecord> offers)
    {
        var html = new StringBuilder();
        html.Append("<table id=\"").Append(id).Append("\"><thead><tr><th>Offer</th><th>Campaign</th><th>Version</th><th>Status</th><th>Error</th><th>Downloaded</th><th>Updated</th></tr></thead><tbody>");
        foreach (var o in offers)
        {
            html.Append("<tr><td>").Append(E(o.OfferId)).Append("</td><td>").Append(E(o.CampaignId)).Append("</td><td>").Append(E(o.TargetVersion)).Append("</td><td>")
                .Append(E(o.Status)).Append("</td><td>").Append(E(o.ErrorCode)).Append("</td><td>").Append(E(o.BytesDownloaded)).Append("</td><td>")
                .Append(E(o.UpdatedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture))).Append("</td></tr>");
        }

        return html.Append("</tbody></table>").ToString();
    }

    public static string Problem(ApiKeyIdentity? who, string message) => Layout("Error", who, $"<p class=\"error\" role=\"alert\">{E(message)}</p><p><a href=\"/console\">Campaigns</a></p>");

    private static string ErrorBox(string? error) => error is null ? "" : $"<p class=\"error\" role=\"alert\">{E(error)}</p>";

    private static string ActionForm(string path, string action, string label) => $"""
        <form class="action" method="post" action="{path}" onsubmit="return confirm('{label}? This is recorded with your reason.')">
          <label>Reason <input type="text" name="reason" required></label>
          <button type="submit" name="action" value="{action}">{label}</button>
        </form>
        """;

    private static string FreezeBanner(FleetStatus fleet) => fleet.Frozen
        ? $"<p class=\"banner\" role=\"status\" id=\"freeze-banner\">Fleet frozen by {E(fleet.By)}: {E(fleet.Reason)}. No campaign makes new offers.</p>"
        : "";

    private static string Progress(CampaignCounts? counts)
    {
        counts ??= new CampaignCounts();
        var offered = Math.Max(counts.Offered, 1);
        var done = counts.Succeeded + counts.Failed + counts.RolledBack + counts.TimedOut;
        var share = Math.Min(1.0, (double)done / offered);
        return $"<span class=\"bar\" title=\"{E(done)} of {E(counts.Offered)} offers completed\"><span style=\"width:{E((int)(share * 100))}%\"></span></span> {E(done)}/{E(counts.Offered)}";
    }

    private static string KindName(PackageKind kind) => kind switch
    {
        PackageKind.Full => "FULL",
        PackageKind.Delta => "DELTA",
        _ => "UNSPECIFIED",
    };

    public static string StateName(CampaignState state) => state switch
    {
        CampaignState.Draft => "DRAFT",
        CampaignState.Running => "RUNNING",
        CampaignState.Completed => "COMPLETED",
        CampaignState.Canceled => "CANCELED",
        CampaignState.Paused => "PAUSED",
        CampaignState.Halted => "HALTED",
        _ => "UNSPECIFIED",
    };
}
