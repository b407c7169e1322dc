using System.Net;
using ZteRollout.Admin.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>The server-rendered console on the operator listener, driven as a browser would with plain HTTP requests.</summary>
[Collection(NodeCollection.Name)]
public sealed class ConsoleTests(NodeFixture fixture) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false })
    {
        BaseAddress = new Uri(fixture.Node.OperatorAddress ?? throw new InvalidOperationException("the test node serves no operator listener")),
    };

    private EmbeddedNodeHost Node => fixture.Node;

    public void Dispose() => _http.Dispose();

    /// <summary>Signs in and returns the session cookie ("name=value") the browser would send back.</summary>
    private async Task<string> SignInAsync(string key)
    {
        using var response = await PostFormAsync("/console/sign-in", null, ("key", key));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        return setCookie.Split(';')[0];
    }

    private async Task<HttpResponseMessage> PostFormAsync(string path, string? cookie, params (string Name, string Value)[] fields)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(fields.Select(f => KeyValuePair.Create(f.Name, f.Value))) };
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        return await _http.SendAsync(request);
    }

    private async Task<(HttpStatusCode Status, string Html)> GetPageAsync(string path, string? cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        using var response = await _http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task StartCampaignAsync(string campaignId, string name, string model)
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full(model, "R2.0"), Scenario.RandomBytes(1024, seed: model.Length));
        var plan = new CampaignPlan
        {
            Name = name,
            Targets = { new CampaignTarget { Model = model, PackageId = package.PackageId } },
            Eligibility = new Eligibility { Models = { model } },
            InProgressTimeoutSeconds = 3600,
        };
        await Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = campaignId, Plan = plan }, Node.AdminHeaders);
        await Node.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = campaignId, Reason = "test" }, Node.AdminHeaders);
    }

    [Fact]
    public async Task SignIn_SetsAnHttpOnlyStrictCookie_AWrongKeyIsRefused_AndSignOutClearsIt()
    {
        using var wrong = await PostFormAsync("/console/sign-in", null, ("key", "zak1_wrong"));
        using var right = await PostFormAsync("/console/sign-in", null, ("key", NodeFixture.ViewerKey));
        var (withoutCookieStatus, _) = await GetPageAsync("/console", null);

        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.False(wrong.Headers.Contains("Set-Cookie"));
        var setCookie = Assert.Single(right.Headers.GetValues("Set-Cookie")).ToLowerInvariant();
        Assert.Contains("httponly", setCookie);
        Assert.Contains("samesite=strict", setCookie);
        Assert.DoesNotContain(NodeFixture.ViewerKey.ToLowerInvariant(), setCookie);
        Assert.Equal(HttpStatusCode.Redirect, withoutCookieStatus);

        var cookie = right.Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        using var signOut = await PostFormAsync("/console/sign-out", cookie);
        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        Assert.Contains("expires=thu, 01 jan 1970", Assert.Single(signOut.Headers.GetValues("Set-Cookie")).ToLowerInvariant());
    }

    [Fact]
    public async Task CampaignList_RendersAScriptInAName_AsText()
    {
        await StartCampaignAsync("con-xss", "<script>alert('x')</script>", "CON-X1");
        var cookie = await SignInAsync(NodeFixture.ViewerKey);

        var (status, list) = await GetPageAsync("/console", cookie);
        var (pageStatus, page) = await GetPageAsync("/console/campaigns/con-xss", cookie);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;", list);
        Assert.DoesNotContain("<script>", list);
        Assert.Equal(HttpStatusCode.OK, pageStatus);
        Assert.DoesNotContain("<script>", page);
    }

    [Fact]
    public async Task CampaignPage_ShowsActionsByRole_AndAnSreHaltsAndResumesWithAReason()
    {
        await StartCampaignAsync("con-halt", "console halt", "CON-H1");
        var viewer = await SignInAsync(NodeFixture.ViewerKey);
        var sre = await SignInAsync(NodeFixture.SreKey);

        var (_, viewerPage) = await GetPageAsync("/console/campaigns/con-halt", viewer);
        var (_, srePage) = await GetPageAsync("/console/campaigns/con-halt", sre);
        Assert.DoesNotContain("value=\"halt\"", viewerPage);
        Assert.Contains("value=\"halt\"", srePage);

        using var viewerHalt = await PostFormAsync("/console/campaigns/con-halt/halt", viewer, ("reason", "not mine"));
        Assert.Equal(HttpStatusCode.Forbidden, viewerHalt.StatusCode);

        using var noReason = await PostFormAsync("/console/campaigns/con-halt/halt", sre, ("reason", ""));
        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Contains("a halt needs a reason", await noReason.Content.ReadAsStringAsync());

        using var halt = await PostFormAsync("/console/campaigns/con-halt/halt", sre, ("reason", "failure spike seen in console"));
        Assert.Equal(HttpStatusCode.Redirect, halt.StatusCode);
        var (_, haltedPage) = await GetPageAsync("/console/campaigns/con-halt", sre);
        Assert.Contains("<span class=\"state HALTED\" id=\"state\">HALTED</span>", haltedPage);
        Assert.Contains("failure spike seen in console", haltedPage);
        Assert.Contains("value=\"resume\"", haltedPage);
        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "con-halt" }, Node.AdminHeaders);
        Assert.Equal(CampaignState.Halted, campaign.State);
        Assert.Equal("oncall", campaign.Halt.By);

        using var resume = await PostFormAsync("/console/campaigns/con-halt/resume", sre, ("reason", "fixed"));
        Assert.Equal(HttpStatusCode.Redirect, resume.StatusCode);
        Assert.Equal(CampaignState.Running, (await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "con-halt" }, Node.AdminHeaders)).State);
    }

    [Fact]
    public async Task Console_ShowsTheFreezeBanner_WhileTheFleetIsFrozen()
    {
        var cookie = await SignInAsync(NodeFixture.ViewerKey);
        var sre = EmbeddedNodeHost.Bearer(NodeFixture.SreKey);
        await Node.Admin.FreezeFleetAsync(new FleetRequest { Reason = "console banner test" }, sre);
        try
        {
            var (_, frozen) = await GetPageAsync("/console", cookie);
            Assert.Contains("Fleet frozen by oncall: console banner test.", frozen);
        }
        finally
        {
            await Node.Admin.UnfreezeFleetAsync(new FleetRequest { Reason = "done" }, sre);
        }

        var (_, unfrozen) = await GetPageAsync("/console", cookie);
        Assert.DoesNotContain("Fleet frozen", unfrozen);
    }
}
