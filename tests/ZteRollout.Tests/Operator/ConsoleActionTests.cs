using System.Net;
using ZteRollout.Admin.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// The console's actions, plan check, live fragment and shipped script over plain HTTP (as a browser posts them): the
/// server refuses what a role may not do whatever the page shows, and everything the caller typed comes back encoded.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class ConsoleActionTests(NodeFixture fixture) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false })
    {
        BaseAddress = new Uri(fixture.Node.OperatorAddress ?? throw new InvalidOperationException("the test node serves no operator listener")),
    };

    private EmbeddedNodeHost Node => fixture.Node;

    public void Dispose() => _http.Dispose();

    private async Task<string> SignInAsync(string key)
    {
        using var response = await SendAsync(HttpMethod.Post, "/console/sign-in", null, new FormUrlEncodedContent([KeyValuePair.Create("key", key)]));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return Assert.Single(response.Headers.GetValues("Set-Cookie")).Split(';')[0];
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? cookie, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        return await _http.SendAsync(request);
    }

    private async Task<(HttpStatusCode Status, string Body)> PostFormAsync(string path, string cookie, params (string Name, string Value)[] fields)
    {
        using var response = await SendAsync(HttpMethod.Post, path, cookie, new FormUrlEncodedContent(fields.Select(f => KeyValuePair.Create(f.Name, f.Value))));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<(HttpStatusCode Status, string Body)> PostMultipartAsync(string path, string cookie, params (string Name, string Value)[] fields)
    {
        using var form = new MultipartFormDataContent();
        foreach (var (name, value) in fields)
        {
            form.Add(new StringContent(value), name);
        }

        using var response = await SendAsync(HttpMethod.Post, path, cookie, form);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<(HttpStatusCode Status, string Body)> GetAsync(string path, string cookie)
    {
        using var response = await SendAsync(HttpMethod.Get, path, cookie);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<Package> DraftAsync(string campaignId, string model)
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full(model, "A2.0"), Scenario.RandomBytes(1024, seed: model.Length + 7));
        var plan = new CampaignPlan
        {
            Name = "console actions",
            Targets = { new CampaignTarget { Model = model, PackageId = package.PackageId } },
            Eligibility = new Eligibility { Models = { model } },
            InProgressTimeoutSeconds = 3600,
            Stages = { new Stage { Percent = 10 }, new Stage { Percent = 100 } },
        };
        await Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = campaignId, Plan = plan }, Node.AdminHeaders);
        return package;
    }

    private Task<Campaign> GetCampaignAsync(string campaignId) =>
        Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = campaignId }, Node.AdminHeaders).ResponseAsync;

    [Fact]
    public async Task Viewer_IsRefusedEveryAction_ThePageOffers_AndNothingChanges()
    {
        await DraftAsync("con-viewer", "CON-V1");
        var viewer = await SignInAsync(NodeFixture.ViewerKey);

        var (_, page) = await GetAsync("/console/campaigns/con-viewer", viewer);
        var refused = new List<(string Action, HttpStatusCode Status)>();
        foreach (var action in new[] { "start", "pause", "resume", "advance", "halt", "cancel" })
        {
            refused.Add((action, (await PostFormAsync($"/console/campaigns/con-viewer/{action}", viewer, ("reason", "not mine"))).Status));
        }

        var (freezeStatus, _) = await PostFormAsync("/console/fleet/freeze", viewer, ("reason", "not mine"));
        var (createStatus, createPage) = await PostMultipartAsync("/console/campaigns/new", viewer, ("campaignId", "con-viewer-2"), ("plan", "name: x"), ("intent", "create"));
        var (uploadStatus, _) = await PostMultipartAsync("/console/packages/upload", viewer, ("version", "A3.0"), ("models", "CON-V1"));

        Assert.DoesNotContain("class=\"action\"", page);
        Assert.Contains("None for your role in this state.", page);
        Assert.All(refused, r => Assert.Equal(HttpStatusCode.Forbidden, r.Status));
        Assert.Equal((HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden), (freezeStatus, createStatus, uploadStatus));
        Assert.Contains("Key &#x27;viewer-bot&#x27; has role &#x27;viewer&#x27;, which may not create campaigns.", createPage);
        var campaign = await GetCampaignAsync("con-viewer");
        Assert.Equal((CampaignState.Draft, 1), (campaign.State, campaign.Audit.Count));
        Assert.False((await Node.Admin.GetFleetStatusAsync(new FleetRequest(), Node.AdminHeaders)).Frozen);
        Assert.Throws<Grpc.Core.RpcException>(() => Node.Admin.GetCampaign(new CampaignRequest { CampaignId = "con-viewer-2" }, Node.AdminHeaders));
    }

    [Fact]
    public async Task ReleaseManager_StartsPausesAdvancesAndCancels_EachWithItsReasonInTheAudit()
    {
        await DraftAsync("con-rm", "CON-R1");
        var rm = await SignInAsync(NodeFixture.ReleaseManagerKey);

        var (draftStatus, draftPage) = await GetAsync("/console/campaigns/con-rm", rm);
        var statuses = new List<HttpStatusCode>();
        foreach (var (action, reason) in new[] { ("start", "go"), ("advance", "enough soak"), ("pause", "look first"), ("cancel", "superseded") })
        {
            statuses.Add((await PostFormAsync($"/console/campaigns/con-rm/{action}", rm, ("reason", reason))).Status);
        }

        var (haltStatus, _) = await PostFormAsync("/console/campaigns/con-rm/halt", rm, ("reason", "not a release manager's call"));

        Assert.Equal(HttpStatusCode.OK, draftStatus);
        Assert.Contains("value=\"start\"", draftPage);
        Assert.Contains("value=\"cancel\"", draftPage);
        Assert.DoesNotContain("value=\"halt\"", draftPage);
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.Redirect, s));
        Assert.Equal(HttpStatusCode.Forbidden, haltStatus);
        var campaign = await GetCampaignAsync("con-rm");
        Assert.Equal(CampaignState.Canceled, campaign.State);
        Assert.Equal(
            new[] { ("create", ""), ("start", "go"), ("advance to stage 2", "enough soak"), ("pause", "look first"), ("cancel", "superseded") },
            campaign.Audit.Select(a => (a.Action, a.Reason)).ToArray());
    }

    [Fact]
    public async Task PlanCheck_ShowsReadErrorsAndFieldProblems_Encoded_AndCreatesNothing()
    {
        var rm = await SignInAsync(NodeFixture.ReleaseManagerKey);

        var (unreadableStatus, unreadable) = await PostMultipartAsync("/console/campaigns/new", rm,
            ("campaignId", "con-plan"), ("plan", "name: x\n<script>alert(1)</script>: 1\n"), ("intent", "check"));
        var (invalidStatus, invalid) = await PostMultipartAsync("/console/campaigns/new", rm,
            ("campaignId", "con-plan"), ("plan", "name: \"<b>bold</b>\"\ntargets:\n  - model: CON-P1\n    package_id: no-such-package\n"), ("intent", "create"));

        Assert.Equal(HttpStatusCode.BadRequest, unreadableStatus);
        Assert.Contains("plan:2:1: unknown key &#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;", unreadable);
        Assert.DoesNotContain("<script>alert", unreadable);
        Assert.Equal(HttpStatusCode.BadRequest, invalidStatus);
        Assert.Contains("<li data-field=\"plan.targets[0].package_id\">", invalid);
        Assert.Contains("&lt;b&gt;bold&lt;/b&gt;", invalid);
        Assert.DoesNotContain("id=\"create\"", invalid);
        Assert.Throws<Grpc.Core.RpcException>(() => Node.Admin.GetCampaign(new CampaignRequest { CampaignId = "con-plan" }, Node.AdminHeaders));
    }

    [Fact]
    public async Task PlanCheck_ReadsAnUploadedPlanFile_InsteadOfThePastedText()
    {
        var rm = await SignInAsync(NodeFixture.ReleaseManagerKey);
        using var form = new MultipartFormDataContent
        {
            { new StringContent("con-plan-file"), "campaignId" },
            { new StringContent("name: pasted\n"), "plan" },
            { new StringContent("check"), "intent" },
            { new ByteArrayContent("name: from file\nstage_list: []\n"u8.ToArray()), "planFile", "plan.yaml" },
        };

        using var response = await SendAsync(HttpMethod.Post, "/console/campaigns/new", rm, form);
        var page = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("plan:2:1: unknown key &#x27;stage_list&#x27;", page);
        // The file's text replaces the pasted one in the form (line breaks encoded as every other character is).
        Assert.Contains("spellcheck=\"false\">name: from file&#xA;stage_list:", page);
    }

    [Fact]
    public async Task LiveFragment_SendsTheActionsOutOfBand_OnlyWhenTheStateMoved()
    {
        await DraftAsync("con-live-fragment", "CON-F1");
        await Node.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = "con-live-fragment", Reason = "test" }, Node.AdminHeaders);
        var sre = await SignInAsync(NodeFixture.SreKey);

        var (sameStatus, same) = await GetAsync("/console/campaigns/con-live-fragment/live?shown=RUNNING", sre);
        var (movedStatus, moved) = await GetAsync("/console/campaigns/con-live-fragment/live?shown=DRAFT", sre);
        var (missingStatus, _) = await GetAsync("/console/campaigns/con-no-such/live?shown=RUNNING", sre);

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.NotFound), (sameStatus, movedStatus, missingStatus));
        Assert.Contains("<span class=\"state RUNNING\" id=\"state\">RUNNING</span>", same);
        Assert.DoesNotContain("id=\"actions\"", same);
        Assert.Contains("<section id=\"actions\" hx-swap-oob=\"true\">", moved);
        Assert.Contains("value=\"halt\"", moved);
        Assert.Contains("<input type=\"hidden\" id=\"shown-state\" name=\"shown\" value=\"RUNNING\">", moved);
        Assert.Contains("<p id=\"no-sequential\">The plan has no sequential halt policy: no statistic to chart.</p>", same);
    }

    [Fact]
    public async Task Htmx_ShipsInTheBuild_WithItsLicence_AndPagesFetchNothingFromElsewhere()
    {
        var viewer = await SignInAsync(NodeFixture.ViewerKey);
        using var script = await SendAsync(HttpMethod.Get, "/console/assets/htmx-2.0.11.min.js", viewer);
        using var licence = await SendAsync(HttpMethod.Get, "/console/assets/htmx-LICENSE.txt", viewer);
        var (_, page) = await GetAsync("/console", viewer);

        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Contains("version:\"2.0.11\"", await script.Content.ReadAsStringAsync());
        Assert.StartsWith("Zero-Clause BSD", await licence.Content.ReadAsStringAsync());
        Assert.Contains("<script src=\"/console/assets/htmx-2.0.11.min.js\"></script>", page);
        Assert.DoesNotContain("http://", page.Replace("http://www.w3.org/2000/svg", "", StringComparison.Ordinal));
        Assert.DoesNotContain("https://", page);
    }
}
