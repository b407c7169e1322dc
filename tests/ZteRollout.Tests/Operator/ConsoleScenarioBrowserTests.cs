using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// Issue 12's console scenario end to end in a real headless Chromium (Debian's <c>chromium</c>): a release manager
/// creates a campaign from a YAML plan (a field error first, then the dry run), starts it; reference agents report a
/// failure spike while the page updates without a reload; the campaign halts by policy and the page shows HALTED with
/// the blamed cohort; an SRE resumes it; a viewer sees no action and is refused when it posts one; a freeze shows a
/// banner. Screenshots of the pages go to <c>TestResults/console-screenshots/</c> in the test output folder.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class ConsoleScenarioBrowserTests(NodeFixture fixture, ITestOutputHelper output)
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private const string CampaignId = "con-live";

    private const string ScriptName = "<script>window.zteInjected = 1</script> spike";

    public static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "TestResults", "console-screenshots");

    private EmbeddedNodeHost Node => fixture.Node;

    private string Console => Node.OperatorAddress!.TrimEnd('/');

    private static string Plan(string badPackage, string goodPackage, string maxFailureRate) => $"""
        name: "{ScriptName.Replace("\"", "\\\"", StringComparison.Ordinal)}"
        targets:
          - model: CON-LB
            package_id: {badPackage}
          - model: CON-LG
            package_id: {goodPackage}
        eligibility:
          models: [CON-LB, CON-LG]
        in_progress_timeout_seconds: 1h
        retry:
          max_attempts: 1
        halt:
          threshold:
            max_failure_rate: {maxFailureRate}
            min_completed: 10
          sequential:
            p0: 0.03
            p1: 0.08
            alpha: 0.01
            beta: 0.01
        """;

    private async Task<IPage> SignedInPageAsync(IBrowser browser, string key)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        await page.GotoAsync(Console + "/console");
        await page.FillAsync("input[name=key]", key);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(Console + "/console");
        return page;
    }

    private static Task ShotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });

    /// <summary>Lets the campaign see its outcomes and judge its policies, as the silo's timer would a minute later.</summary>
    private async Task TickAsync()
    {
        fixture.Clock.Advance(TimeSpan.FromMinutes(1));
        await Node.Services.GetRequiredService<IGrainFactory>().Campaign(CampaignId).TickAsync();
    }

    [Fact]
    public async Task Console_CreateFromYaml_StartWatchLive_HaltsWithBlame_SreResumes_ViewerRefused_FreezeBanner()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does");
        Directory.CreateDirectory(Screenshots);
        var bad = await Scenario.UploadAsync(Node, Scenario.Full("CON-LB", "L2.0"), Scenario.RandomBytes(2048, seed: 41));
        var good = await Scenario.UploadAsync(Node, Scenario.Full("CON-LG", "L2.0"), Scenario.RandomBytes(2048, seed: 42));
        // Two waves of 40 devices, half of each wave of either model; in the second wave every CON-LB device rolls back.
        var first = await Fleet.CreateAsync(Node, Node.Channel, "con-live-a", 40, "L1.0", i => new AgentBehavior { Model = i % 2 == 0 ? "CON-LB" : "CON-LG" });
        var second = await Fleet.CreateAsync(Node, Node.Channel, "con-live-b", 40, "L1.0", i => new AgentBehavior { Model = i % 2 == 0 ? "CON-LB" : "CON-LG", RollBackAfterReboot = i % 2 == 0 });
        // A first check-in with no campaign yet: the registry learns each device's model, which the dry run judges on.
        Assert.All((await first.RoundAsync()).Values.Concat((await second.RoundAsync()).Values), r => Assert.Equal(AgentOutcome.NoUpdate, r.Outcome));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true, Args = ["--no-sandbox"] });

        // A release manager writes the plan with one mistake, sees it next to the plan, fixes it, sees the dry run.
        var rm = await SignedInPageAsync(browser, NodeFixture.ReleaseManagerKey);
        await rm.ClickAsync("header a[href='/console/campaigns/new']");
        await rm.FillAsync("input[name=campaignId]", CampaignId);
        await rm.FillAsync("#plan", Plan(bad.PackageId, good.PackageId, "1.5"));
        await rm.ClickAsync("#check");
        Assert.Equal("plan.halt.threshold.max_failure_rate: must be between 0 and 1 (is 1.5)",
            await rm.InnerTextAsync("#problems li[data-field='plan.halt.threshold.max_failure_rate']"));
        Assert.Equal(0, await rm.Locator("#create").CountAsync());
        await ShotAsync(rm, "new-campaign-field-error");

        await rm.FillAsync("#plan", Plan(bad.PackageId, good.PackageId, "0.2"));
        await rm.ClickAsync("#check");
        Assert.Equal("The plan is valid.", await rm.InnerTextAsync("#plan-valid"));
        Assert.Equal("80", await rm.InnerTextAsync("#eligible"));
        Assert.Equal(["1\t80"], await rm.Locator("#per-stage tbody tr").AllInnerTextsAsync());
        await ShotAsync(rm, "new-campaign-dry-run");
        await rm.ClickAsync("#create");
        await rm.WaitForURLAsync(Console + "/console/campaigns/" + CampaignId);
        Assert.Equal("DRAFT", await rm.InnerTextAsync("#state"));
        Assert.Equal(ScriptName + " (" + CampaignId + ")", await rm.InnerTextAsync("h1"));
        Assert.Equal("undefined", await rm.EvaluateAsync<string>("() => typeof window.zteInjected"));

        await rm.FillAsync("form[action$='/start'] input[name=reason]", "console scenario");
        await rm.ClickAsync("form[action$='/start'] button");
        await rm.WaitForSelectorAsync("#state.RUNNING");
        Assert.Equal(0, await rm.Locator("form[action$='/halt']").CountAsync());

        // From here the page is not reloaded: a marker on the window survives only if it is the same document.
        await rm.EvaluateAsync("() => { window.zteSameDocument = true; }");
        await first.RoundAsync();
        await TickAsync();
        await rm.WaitForSelectorAsync("td[data-count=succeeded]:text-is('40')", new PageWaitForSelectorOptions { Timeout = 5000 });
        Assert.Equal(0.0.ToString("P1", System.Globalization.CultureInfo.InvariantCulture), await rm.InnerTextAsync("#failure-rate"));
        Assert.Equal("0.2", await rm.GetAttributeAsync("#failure-rate-chart line.limit", "data-threshold"));
        await ShotAsync(rm, "campaign-running");

        await second.RoundAsync();
        await TickAsync();
        await rm.WaitForSelectorAsync("#state.HALTED", new PageWaitForSelectorOptions { Timeout = 5000 });
        Assert.True(await rm.EvaluateAsync<bool>("() => window.zteSameDocument === true"));
        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = CampaignId }, Node.AdminHeaders);
        output.WriteLine($"halt: {campaign.Halt}; counts: {campaign.Counts}");
        // The policy halts while the second wave still reports (when depends on the order the agents finish, and the
        // offers still downloading are canceled), so the exact counts are the server's: the page must show those.
        var badModel = campaign.Cohorts.Single(c => c.Dimension == "model" && c.Value == "CON-LB");
        Assert.Equal(CampaignState.Halted, campaign.State);
        Assert.StartsWith("policy:", campaign.Halt.By);
        Assert.Equal(0UL, campaign.Cohorts.Single(c => c.Dimension == "model" && c.Value == "CON-LG").Failures);
        Assert.True(badModel.Failures > 0);
        await rm.WaitForSelectorAsync($"td[data-count=succeeded]:text-is('{campaign.Counts.Succeeded}')", new PageWaitForSelectorOptions { Timeout = 5000 });
        Assert.Equal(campaign.Counts.RolledBack.ToString(System.Globalization.CultureInfo.InvariantCulture), await rm.InnerTextAsync("td[data-count=rolled-back]"));
        Assert.Equal("model=CON-LB", await rm.InnerTextAsync("#blame"));
        Assert.Equal([$"model\tCON-LB\t{badModel.Completed}\t{badModel.Failures}\t" + ((double)badModel.Failures / badModel.Completed).ToString("P1", System.Globalization.CultureInfo.InvariantCulture)],
            await rm.Locator("#cohorts tr.blamed").AllInnerTextsAsync());
        Assert.Equal(campaign.FailureRate.ToString("P1", System.Globalization.CultureInfo.InvariantCulture), await rm.InnerTextAsync("#failure-rate"));
        // The chart has at least the points before and after the spike, and the halt turned the actions: a release
        // manager may not resume an SRE's (here the policy's) halt, and there is nothing left to halt.
        Assert.True(int.Parse(await rm.GetAttributeAsync("#failure-rate-chart polyline.series", "data-points") ?? "0", System.Globalization.CultureInfo.InvariantCulture) >= 2);
        Assert.Equal(campaign.HaltBoundary.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            await rm.GetAttributeAsync("#sequential-chart line.limit", "data-boundary"));
        Assert.Equal(campaign.HaltStatistic.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), await rm.InnerTextAsync("#statistic"));
        Assert.Equal(0, await rm.Locator("form[action$='/resume']").CountAsync());
        Assert.Equal(1, await rm.Locator("form[action$='/cancel']").CountAsync());
        await ShotAsync(rm, "campaign-halted");

        // A viewer sees the campaign but no action, and a posted action is refused (the console and the JSON API).
        var viewer = await SignedInPageAsync(browser, NodeFixture.ViewerKey);
        await viewer.GotoAsync(Console + "/console/campaigns/" + CampaignId);
        Assert.Equal("HALTED", await viewer.InnerTextAsync("#state"));
        Assert.Equal(0, await viewer.Locator("form.action").CountAsync());
        var viewerPost = await viewer.Context.APIRequest.PostAsync(Console + "/console/campaigns/" + CampaignId + "/resume",
            new APIRequestContextOptions { Form = viewer.Context.APIRequest.CreateFormData().Set("reason", "not mine") });
        Assert.Equal((int)HttpStatusCode.Forbidden, viewerPost.Status);
        using (var api = new OperatorClient(Console))
        using (var refused = await api.PostAsync($"/api/v1/campaigns/{CampaignId}:resume", NodeFixture.ViewerKey, "{\"reason\":\"not mine\"}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        // An SRE resumes it with a reason.
        var sre = await SignedInPageAsync(browser, NodeFixture.SreKey);
        await sre.GotoAsync(Console + "/console/campaigns/" + CampaignId);
        await sre.FillAsync("form[action$='/resume'] input[name=reason]", "bad build pulled from CON-LB");
        await sre.ClickAsync("form[action$='/resume'] button");
        await sre.WaitForSelectorAsync("#state.RUNNING");
        Assert.Equal(CampaignState.Running, (await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = CampaignId }, Node.AdminHeaders)).State);
        Assert.Equal("resume", (await sre.Locator("#audit tbody tr").Last.Locator("td").Nth(2).InnerTextAsync()));

        // The SRE freezes the fleet: a banner on the list, and on the viewer's open campaign page without a reload.
        await sre.GotoAsync(Console + "/console");
        try
        {
            await sre.FillAsync("form[action$='/fleet/freeze'] input[name=reason]", "console freeze test");
            await sre.ClickAsync("form[action$='/fleet/freeze'] button");
            await sre.WaitForSelectorAsync("#freeze-banner");
            Assert.Equal("Fleet frozen by oncall: console freeze test. No campaign makes new offers.", await sre.InnerTextAsync("#freeze-banner"));
            await viewer.WaitForSelectorAsync("#freeze-banner", new PageWaitForSelectorOptions { Timeout = 5000 });
            await ShotAsync(sre, "campaigns-frozen");
            await sre.FillAsync("form[action$='/fleet/unfreeze'] input[name=reason]", "done");
            await sre.ClickAsync("form[action$='/fleet/unfreeze'] button");
            await sre.WaitForSelectorAsync("form[action$='/fleet/freeze']");
            Assert.Equal(0, await sre.Locator("#freeze-banner").CountAsync());
        }
        finally
        {
            await Node.Admin.UnfreezeFleetAsync(new FleetRequest { Reason = "test cleanup" }, EmbeddedNodeHost.Bearer(NodeFixture.SreKey));
        }

        // Packages: a release manager uploads one (the progress bar reaches the end), then its signed manifest; a device's lookup.
        await rm.GotoAsync(Console + "/console/packages");
        await rm.SetInputFilesAsync("#upload input[name=file]", new FilePayload { Name = "image.bin", MimeType = "application/octet-stream", Buffer = Scenario.RandomBytes(300_000, seed: 43) });
        await rm.FillAsync("#upload input[name=version]", "L3.0");
        await rm.FillAsync("#upload input[name=models]", "CON-LU");
        await rm.ClickAsync("#upload button[type=submit]");
        await rm.WaitForSelectorAsync("#upload-done");
        Assert.Equal("100", await rm.EvaluateAsync<string>("() => String(Math.round(document.getElementById('upload-progress').value))"));
        var uploaded = (await Node.Admin.ListPackagesAsync(new ListPackagesRequest { Model = "CON-LU" }, Node.AdminHeaders)).Packages.Single();
        Assert.Equal((300_000UL, "L3.0"), (uploaded.Size, uploaded.Metadata.Version));
        await ShotAsync(rm, "packages");
        await sre.GotoAsync(Console + "/console/packages/" + Uri.EscapeDataString(bad.PackageId));
        Assert.Contains("L2.0", await sre.InnerTextAsync("#manifest"));
        await ShotAsync(sre, "package");
        var failedDevice = second.DeviceIds[0];
        await sre.GotoAsync(Console + "/console/devices?id=" + failedDevice);
        Assert.Equal(["con-live", "L2.0", "RolledBack", "E_BOOT_HEALTHCHECK"],
            (await sre.Locator("#offer tbody tr td").AllInnerTextsAsync()).Skip(1).Take(4).ToArray());
        Assert.Equal("RETRY_HELD", await sre.Locator("#decisions tr", new PageLocatorOptions { HasText = CampaignId }).Locator("td").Nth(1).InnerTextAsync());
        await ShotAsync(sre, "device");
    }
}
