using Microsoft.Playwright;
using ZteRollout.Admin.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// The console in a real headless Chromium (Debian's <c>chromium</c>, installed by .ci/run; Playwright's own browser
/// download is not used). Screenshots of the pages go to <c>screenshots/</c> in the test output folder.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class ConsoleBrowserTests(NodeFixture fixture)
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");

    private EmbeddedNodeHost Node => fixture.Node;

    private string Console => Node.OperatorAddress!.TrimEnd('/');

    private static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does");
        var playwright = await Playwright.CreateAsync();
        // Root in a container has no user namespace for Chromium's sandbox.
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true, Args = ["--no-sandbox"] });
        return (playwright, browser);
    }

    private async Task<IPage> SignedInPageAsync(IBrowser browser, string key)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync(Console + "/console");
        Assert.EndsWith("/console/sign-in", page.Url);
        await page.FillAsync("input[name=key]", key);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(Console + "/console");
        return page;
    }

    [Fact]
    public async Task Browser_SignsIn_SeesAScriptNameAsText_HaltsAsSre_AndAViewerSeesNoActions()
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full("CON-B1", "R2.0"), Scenario.RandomBytes(1024, seed: 5));
        var plan = new CampaignPlan
        {
            Name = "<script>window.zteInjected = 1</script>",
            Targets = { new CampaignTarget { Model = "CON-B1", PackageId = package.PackageId } },
            Eligibility = new Eligibility { Models = { "CON-B1" } },
            InProgressTimeoutSeconds = 3600,
        };
        await Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = "con-browser", Plan = plan }, Node.AdminHeaders);
        await Node.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = "con-browser", Reason = "test" }, Node.AdminHeaders);
        Directory.CreateDirectory(Screenshots);

        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;

        var sre = await SignedInPageAsync(browser, NodeFixture.SreKey);
        var row = sre.Locator("tr", new PageLocatorOptions { HasText = "con-browser" });
        Assert.Equal("<script>window.zteInjected = 1</script>", await row.Locator("td").Nth(1).InnerTextAsync());
        Assert.Equal("undefined", await sre.EvaluateAsync<string>("() => typeof window.zteInjected"));
        await sre.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "campaigns.png"), FullPage = true });

        await row.Locator("a").ClickAsync();
        Assert.Equal("RUNNING", await sre.InnerTextAsync("#state"));
        sre.Dialog += (_, dialog) => dialog.AcceptAsync();
        await sre.FillAsync("form[action$='/halt'] input[name=reason]", "failure spike (browser test)");
        await sre.ClickAsync("form[action$='/halt'] button");
        await sre.WaitForSelectorAsync("#state.HALTED");
        Assert.Equal("HALTED", await sre.InnerTextAsync("#state"));
        Assert.Equal(1, await sre.Locator("form[action$='/resume']").CountAsync());
        await sre.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "campaign-halted.png"), FullPage = true });

        var viewer = await SignedInPageAsync(browser, NodeFixture.ViewerKey);
        await viewer.GotoAsync(Console + "/console/campaigns/con-browser");
        Assert.Equal("HALTED", await viewer.InnerTextAsync("#state"));
        Assert.Equal(0, await viewer.Locator("form.action").CountAsync());

        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "con-browser" }, Node.AdminHeaders);
        Assert.Equal(CampaignState.Halted, campaign.State);
        Assert.Equal("failure spike (browser test)", campaign.Halt.Reason);
    }
}
