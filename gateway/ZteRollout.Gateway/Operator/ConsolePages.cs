using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using ZteRollout.Admin.V1;
using ZteRollout.Gateway.Auth;

namespace ZteRollout.Gateway.Operator;

/// <summary>
/// The console's pages, rendered on the server from the admin API's messages: plain HTML with an inline stylesheet,
/// nothing fetched from elsewhere. Every value is HTML-encoded where it is written (<see cref="E"/>).
/// </summary>
public static class ConsolePages
{
    private static string E(string? text) => HtmlEncoder.Default.Encode(text ?? "");

    private static string E(object value) => E(Convert.ToString(value, CultureInfo.InvariantCulture));

    private const string Style = """
        body{font-family:system-ui,sans-serif;margin:0;color:#1d2330}header{background:#1d2330;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}
        header a{color:#fff}main{padding:1rem}table{border-collapse:collapse}td,th{border-bottom:1px solid #ccd;padding:.3rem .6rem;text-align:left}
        .state{font-weight:600}.HALTED{color:#b00020}.RUNNING{color:#0a7a2f}.error{background:#fde7ea;border:1px solid #b00020;padding:.5rem;margin:.5rem 0}
        .bar{background:#e4e7ee;width:12rem;height:.7rem;display:inline-block}.bar span{background:#0a7a2f;height:100%;display:block}
        form.action{margin:.5rem 0}input[type=text],input[type=password]{width:22rem}
        """;

    private static string Layout(string title, ApiKeyIdentity? who, string body)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append(" · ZteRollout</title>");
        html.Append("<style>").Append(Style).Append("</style></head><body><header><strong>ZteRollout</strong>");
        if (who is not null)
        {
            html.Append("<a href=\"/console\">Campaigns</a><span>").Append(E(who.Name)).Append(" (").Append(E(who.Role)).Append(")</span>");
            html.Append("<form method=\"post\" action=\"/console/sign-out\"><button type=\"submit\">Sign out</button></form>");
        }

        html.Append("</header><main>").Append(body).Append("</main></body></html>");
        return html.ToString();
    }

    public static string SignIn(string? error) => Layout("Sign in", null, $"""
        <h1>Sign in</h1>
        {(error is null ? "" : $"<p class=\"error\" role=\"alert\">{E(error)}</p>")}
        <form method="post" action="/console/sign-in">
          <label>Admin API key <input type="password" name="key" autocomplete="off" required></label>
          <button type="submit">Sign in</button>
        </form>
        <p>Use the key printed by the embedded node on its first start (or kept in its data directory), or one from <code>Rollout:Gateway:ApiKeys</code>.</p>
        """);

    public static string CampaignList(ApiKeyIdentity who, IEnumerable<Campaign> campaigns, FleetStatus fleet)
    {
        var rows = new StringBuilder();
        foreach (var c in campaigns)
        {
            rows.Append("<tr><td><a href=\"/console/campaigns/").Append(E(Uri.EscapeDataString(c.CampaignId))).Append("\">").Append(E(c.CampaignId)).Append("</a></td>")
                .Append("<td>").Append(E(c.Plan?.Name)).Append("</td>")
                .Append("<td class=\"state ").Append(StateName(c.State)).Append("\">").Append(StateName(c.State)).Append("</td>")
                .Append("<td>").Append(E(c.CurrentStage + 1)).Append(" of ").Append(E(Math.Max(c.Stages.Count, 1))).Append("</td>")
                .Append("<td>").Append(Progress(c)).Append("</td>")
                .Append("<td>").Append(E(c.FailureRate.ToString("P1", CultureInfo.InvariantCulture))).Append("</td></tr>");
        }

        return Layout("Campaigns", who, $"""
            {FreezeBanner(fleet)}
            <h1>Campaigns</h1>
            <table><thead><tr><th>Id</th><th>Name</th><th>State</th><th>Stage</th><th>Progress</th><th>Failure rate</th></tr></thead>
            <tbody>{rows}</tbody></table>
            """);
    }

    public static string CampaignPage(ApiKeyIdentity who, Campaign c, FleetStatus fleet, string? error)
    {
        var counts = c.Counts ?? new CampaignCounts();
        var halted = c.State == CampaignState.Halted;
        var actions = new StringBuilder();
        if (ConsoleSession.MayHalt(who) && c.State is CampaignState.Running or CampaignState.Paused)
        {
            actions.Append(ActionForm(c.CampaignId, "halt", "Halt"));
        }

        if (ConsoleSession.MayResume(who, halted) && c.State is CampaignState.Paused or CampaignState.Halted)
        {
            actions.Append(ActionForm(c.CampaignId, "resume", "Resume"));
        }

        var haltInfo = c.Halt is { } halt && halted
            ? $"<p class=\"error\">Halted by {E(halt.By)}: {E(halt.Reason)}{(halt.Blame is { } blame && blame.Value.Length > 0 ? $" — blamed cohort <strong id=\"blame\">{E(blame.Dimension)}={E(blame.Value)}</strong>" : "")}</p>"
            : "";
        var audit = new StringBuilder();
        foreach (var entry in c.Audit)
        {
            audit.Append("<tr><td>").Append(E(entry.At?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture))).Append("</td><td>").Append(E(entry.Actor))
                .Append("</td><td>").Append(E(entry.Action)).Append("</td><td>").Append(E(entry.Reason)).Append("</td></tr>");
        }

        return Layout(c.CampaignId, who, $"""
            {FreezeBanner(fleet)}
            <h1>{E(c.Plan?.Name)} <small>({E(c.CampaignId)})</small></h1>
            {(error is null ? "" : $"<p class=\"error\" role=\"alert\">{E(error)}</p>")}
            <p>State <span class="state {StateName(c.State)}" id="state">{StateName(c.State)}</span>, stage {E(c.CurrentStage + 1)} of {E(Math.Max(c.Stages.Count, 1))}. {E(c.GateStatus)}</p>
            {haltInfo}
            <p>Progress {Progress(c)}; failure rate {E(c.FailureRate.ToString("P1", CultureInfo.InvariantCulture))}
               (95 % interval {E(c.FailureRateLow.ToString("P1", CultureInfo.InvariantCulture))}–{E(c.FailureRateHigh.ToString("P1", CultureInfo.InvariantCulture))}).</p>
            <table id="counts"><tr><th>Offered</th><th>In progress</th><th>Installed</th><th>Succeeded</th><th>Failed</th><th>Rolled back</th><th>Timed out</th><th>Deferred</th><th>Canceled</th></tr>
            <tr><td>{E(counts.Offered)}</td><td>{E(counts.InProgress)}</td><td>{E(counts.Installed)}</td><td>{E(counts.Succeeded)}</td><td>{E(counts.Failed)}</td>
            <td>{E(counts.RolledBack)}</td><td>{E(counts.TimedOut)}</td><td>{E(counts.Deferred)}</td><td>{E(counts.Canceled)}</td></tr></table>
            <h2>Actions</h2>
            {(actions.Length == 0 ? "<p>None for your role in this state.</p>" : actions.ToString())}
            <h2>Audit log</h2>
            <table><thead><tr><th>At</th><th>Who</th><th>Action</th><th>Reason</th></tr></thead><tbody>{audit}</tbody></table>
            """);
    }

    public static string Problem(ApiKeyIdentity? who, string message) => Layout("Error", who, $"<p class=\"error\" role=\"alert\">{E(message)}</p><p><a href=\"/console\">Campaigns</a></p>");

    private static string ActionForm(string campaignId, string action, string label) => $"""
        <form class="action" method="post" action="/console/campaigns/{E(Uri.EscapeDataString(campaignId))}/{action}"
              onsubmit="return confirm('{label} campaign?')">
          <label>Reason <input type="text" name="reason" required></label>
          <button type="submit" name="action" value="{action}">{label}</button>
        </form>
        """;

    private static string FreezeBanner(FleetStatus fleet) => fleet.Frozen
        ? $"<p class=\"error\" role=\"status\">Fleet frozen by {E(fleet.By)}: {E(fleet.Reason)}. No campaign makes new offers.</p>"
        : "";

    private static string Progress(Campaign c)
    {
        var counts = c.Counts ?? new CampaignCounts();
        var offered = Math.Max(counts.Offered, 1);
        var done = counts.Succeeded + counts.Failed + counts.RolledBack + counts.TimedOut;
        var share = Math.Min(1.0, (double)done / offered);
        return $"<span class=\"bar\" title=\"{E(done)} of {E(counts.Offered)} offers completed\"><span style=\"width:{E((int)(share * 100))}%\"></span></span> {E(done)}/{E(counts.Offered)}";
    }

    private static string StateName(CampaignState state) => state switch
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
