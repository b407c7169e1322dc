using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using ZteRollout.Admin.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Ddi;

/// <summary>
/// The hawkBit DDI facade against a real embedded node, with our own HTTP/1.1 client: the status codes, fields and
/// quirks SWUpdate 2022.12 and rauc-hawkbit-updater 1.4 depend on (../shared/HAWKBIT-DDI.md).
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class DdiProtocolTests(NodeFixture fixture)
{
    private const int PackageSize = 50_000;

    private EmbeddedNodeHost Node => fixture.Node;

    private string Ddi => Node.DdiAddress ?? throw new InvalidOperationException("the test node serves no DDI listener");

    /// <summary>A package image.swu for <paramref name="model"/> in a running campaign, and a registered controller.</summary>
    private async Task<(DdiClient Client, Package Package, byte[] Bytes, string Token)> SetUpAsync(string model, string controllerId)
    {
        var bytes = Scenario.RandomBytes(PackageSize, seed: model.Length * 31 + controllerId.Length);
        var metadata = Scenario.Full(model, "R2.0");
        metadata.Filename = "image.swu";
        var package = await Scenario.UploadAsync(Node, metadata, bytes);
        await Scenario.StartCampaignAsync(Node, "c-" + model, model, package.PackageId);
        var token = (await Scenario.RegisterAsync(Node, controllerId))[controllerId];
        return (new DdiClient(Ddi, controllerId, token), package, bytes, token);
    }

    /// <summary>Set up, send the attributes, and poll: the controller holds an action.</summary>
    private async Task<(DdiClient Client, Package Package, byte[] Bytes, int ActionId)> OfferedAsync(string model, string controllerId)
    {
        var (client, package, bytes, _) = await SetUpAsync(model, controllerId);
        using var put = await client.PutConfigDataAsync($$"""{"model":"{{model}}","version":"R1.0","hw_revision":"r2","slot":"rootfs.0"}""");
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var root = await client.PollAsync();
        var href = DdiClient.Link(root, "deploymentBase") ?? throw new InvalidOperationException("no deploymentBase: " + root.ToJsonString());
        return (client, package, bytes, int.Parse(href[(href.LastIndexOf('/') + 1)..]));
    }

    private async Task<CampaignCounts> CountsAsync(string model) =>
        (await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-" + model }, Node.AdminHeaders)).Counts;

    private async Task<Admin.V1.Device> DeviceAsync(string deviceId) =>
        await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = deviceId }, Node.AdminHeaders);

    [Fact]
    public async Task Poll_NewController_AsksForConfigDataOnly_ThenOffersTheUpdate_WithAnAbsoluteLink()
    {
        var (client, _, _, _) = await SetUpAsync("DDI-P1", "ddi-p1-1");

        var first = await client.PollAsync();
        using var put = await client.PutConfigDataAsync("""{"model":"DDI-P1","version":"R1.0"}""");
        var second = await client.PollAsync();

        Assert.Equal("00:05:00", first["config"]!["polling"]!["sleep"]!.GetValue<string>());
        Assert.Equal(new[] { "configData" }, first["_links"]!.AsObject().Select(p => p.Key).ToArray());
        Assert.Equal($"{Ddi}/DEFAULT/controller/v1/ddi-p1-1/configData", DdiClient.Link(first, "configData"));
        Assert.Equal((HttpStatusCode.OK, 0L), (put.StatusCode, put.Content.Headers.ContentLength ?? -1));
        Assert.Equal("00:05:00", second["config"]!["polling"]!["sleep"]!.GetValue<string>());
        Assert.Equal(new[] { "deploymentBase" }, second["_links"]!.AsObject().Select(p => p.Key).ToArray());
        Assert.Equal($"{Ddi}/DEFAULT/controller/v1/ddi-p1-1/deploymentBase/1", DdiClient.Link(second, "deploymentBase"));
    }

    [Fact]
    public async Task DeploymentBase_IsTheOffer_WithHashesComputedAtUpload_AndReachableLinks()
    {
        var (client, package, bytes, actionId) = await OfferedAsync("DDI-P2", "ddi-p2-1");

        using var response = await client.SendAsync(HttpMethod.Get, $"{client.Root}/deploymentBase/{actionId}?c=-2127183556");
        var body = await DdiClient.JsonAsync(response);
        var chunk = body["deployment"]!["chunks"]!.AsArray().Single()!;
        var artifact = chunk["artifacts"]!.AsArray().Single()!;
        var download = artifact["_links"]!["download-http"]!["href"]!.GetValue<string>();
        using var bytesResponse = await client.SendAsync(HttpMethod.Get, download);
        using var md5Response = await client.SendAsync(HttpMethod.Get, artifact["_links"]!["md5sum-http"]!["href"]!.GetValue<string>());

        Assert.Equal(System.Text.Json.JsonValueKind.String, body["id"]!.GetValueKind());
        Assert.Equal(actionId.ToString(), body["id"]!.GetValue<string>());
        Assert.Equal(("forced", "forced"), (body["deployment"]!["download"]!.GetValue<string>(), body["deployment"]!["update"]!.GetValue<string>()));
        Assert.Equal(("os", "R2.0", package.PackageId), (chunk["part"]!.GetValue<string>(), chunk["version"]!.GetValue<string>(), chunk["name"]!.GetValue<string>()));
        Assert.Equal(("image.swu", (long)PackageSize), (artifact["filename"]!.GetValue<string>(), artifact["size"]!.GetValue<long>()));
        Assert.Equal(Convert.ToHexStringLower(SHA1.HashData(bytes)), artifact["hashes"]!["sha1"]!.GetValue<string>());
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(bytes)), artifact["hashes"]!["md5"]!.GetValue<string>());
        Assert.Equal(package.Sha256, artifact["hashes"]!["sha256"]!.GetValue<string>());
        Assert.Equal($"{Ddi}/DEFAULT/controller/v1/ddi-p2-1/softwaremodules/{actionId}/artifacts/image.swu", download);
        Assert.Equal(HttpStatusCode.OK, bytesResponse.StatusCode);
        Assert.Equal(bytes, await bytesResponse.Content.ReadAsByteArrayAsync());
        Assert.Equal($"{Convert.ToHexStringLower(MD5.HashData(bytes))}  image.swu", await md5Response.Content.ReadAsStringAsync());
        Assert.Equal(Convert.ToBase64String(package.Manifest.ToByteArray()),
            chunk["metadata"]!.AsArray().Single(m => m!["key"]!.GetValue<string>() == "zte.manifest")!["value"]!.GetValue<string>());
    }

    [Fact]
    public async Task Feedback_SwupdateSequence_IsExactly200_StaysOpenAcrossTheReboot_AndCountsSucceededOnce()
    {
        var (client, _, _, actionId) = await OfferedAsync("DDI-P3", "ddi-p3-1");

        var installing = await client.FeedbackAsync(actionId, "proceeding", "none", "Installing Update Chunk Artifacts.");
        var emptyDetails = await client.FeedbackAsync(actionId, "proceeding", "none");
        var installed = await client.FeedbackAsync(actionId, "proceeding", "none", "All Chunks Installed.");
        var afterInstall = await client.PollAsync();
        var inProgress = await CountsAsync("DDI-P3");

        // The restart with -c 2: "closed"/"success", with a string id, no time, and a field we do not know.
        var closedBody = """{"id":"","status":{"execution":"closed","result":{"finished":"success"},"details":["Update Installed."]},"extra":{"x":1}}""";
        var closed = await client.SendAsync(HttpMethod.Post, $"{client.Root}/deploymentBase/{actionId}/feedback", closedBody);
        var repeated = await client.SendAsync(HttpMethod.Post, $"{client.Root}/deploymentBase/{actionId}/feedback", closedBody);
        var late = await client.FeedbackAsync(actionId, "proceeding", "none", "something late");
        var afterClose = await client.PollAsync();

        foreach (var ok in new[] { installing, emptyDetails, installed, closed, repeated })
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Empty(await ok.Content.ReadAsByteArrayAsync());
        }

        Assert.Equal($"{Ddi}/DEFAULT/controller/v1/ddi-p3-1/deploymentBase/{actionId}", DdiClient.Link(afterInstall, "deploymentBase"));
        Assert.Equal((1UL, 0UL), (inProgress.Installed, inProgress.Succeeded));
        Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
        Assert.Contains($"action {actionId} is closed (SUCCEEDED)", await late.Content.ReadAsStringAsync());
        Assert.Null(DdiClient.Link(afterClose, "deploymentBase"));
        Assert.NotNull(DdiClient.Link(afterClose, "configData"));
        var counts = await CountsAsync("DDI-P3");
        Assert.Equal((1UL, 0UL, 0UL), (counts.Succeeded, counts.Failed, counts.Installed));
        var device = await DeviceAsync("ddi-p3-1");
        Assert.Equal(("R2.0", Device.V1.OfferStatus.Succeeded), (device.CurrentVersion, device.CurrentOffer.Status));
    }

    [Fact]
    public async Task Feedback_ClosedFailure_IsFailedWithTheCodeFromTheDetails()
    {
        var (client, _, _, actionId) = await OfferedAsync("DDI-P4", "ddi-p4-1");

        using var failed = await client.FeedbackAsync(actionId, "closed", "failure", "E_FLASH_WRITE: cannot write /dev/mmcblk0p3", "Update Failed.");

        Assert.Equal(HttpStatusCode.OK, failed.StatusCode);
        var device = await DeviceAsync("ddi-p4-1");
        Assert.Equal((Device.V1.OfferStatus.Failed, "E_FLASH_WRITE"), (device.CurrentOffer.Status, device.CurrentOffer.ErrorCode));
        var counts = await CountsAsync("DDI-P4");
        Assert.Equal((0UL, 1UL), (counts.Succeeded, counts.Failed));
    }

    [Fact]
    public async Task Download_HeadRangeAndEnd_Are200_206And416_AndOtherFileNamesAre404()
    {
        var (client, _, bytes, actionId) = await OfferedAsync("DDI-P5", "ddi-p5-1");
        var file = $"{client.Root}/softwaremodules/{actionId}/artifacts/image.swu";

        using var head = await client.SendAsync(HttpMethod.Head, file);
        using var resumed = await client.SendAsync(HttpMethod.Get, file, configure: r => r.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(1000, null));
        using var atEnd = await client.SendAsync(HttpMethod.Get, file, configure: r => r.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(PackageSize, null));
        using var other = await client.SendAsync(HttpMethod.Get, $"{client.Root}/softwaremodules/{actionId}/artifacts/other.swu");
        using var traversal = await client.SendAsync(HttpMethod.Get, $"{client.Root}/softwaremodules/{actionId}/artifacts/..%2F..%2Fadmin-api-key");
        using var notOurs = await client.SendAsync(HttpMethod.Get, $"{client.Root}/softwaremodules/{actionId + 7}/artifacts/image.swu");

        Assert.Equal((HttpStatusCode.OK, (long)PackageSize, "bytes"), (head.StatusCode, head.Content.Headers.ContentLength ?? -1, head.Headers.AcceptRanges.Single()));
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.PartialContent, resumed.StatusCode);
        Assert.Equal($"bytes 1000-{PackageSize - 1}/{PackageSize}", resumed.Content.Headers.ContentRange!.ToString());
        Assert.Equal(bytes[1000..], await resumed.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, atEnd.StatusCode);
        Assert.Equal($"bytes */{PackageSize}", atEnd.Content.Headers.ContentRange!.ToString());
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Contains("has no artifact 'other.swu'", await other.Content.ReadAsStringAsync());
        Assert.True(traversal.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"got {(int)traversal.StatusCode}");
        Assert.Equal(HttpStatusCode.NotFound, notOurs.StatusCode);
        Assert.Contains($"has no action {actionId + 7}", await notOurs.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Auth_MissingWrongOrAnotherControllersToken_Is401_AnotherControllersAction_Is404()
    {
        var (client, _, _, actionId) = await OfferedAsync("DDI-P6", "ddi-p6-1");
        var otherToken = (await Scenario.RegisterAsync(Node, "ddi-p6-2"))["ddi-p6-2"];
        using var other = new DdiClient(Ddi, "ddi-p6-2", otherToken);
        using var anonymous = new DdiClient(Ddi, "ddi-p6-1", null);
        using var bearer = new DdiClient(Ddi, "ddi-p6-1", null) { Authorization = "Bearer " + otherToken };
        using var impostor = new DdiClient(Ddi, "ddi-p6-1", otherToken);
        using var wrongSecret = new DdiClient(Ddi, "ddi-p6-2", otherToken[..^4] + "AAAA");

        using var none = await anonymous.SendAsync(HttpMethod.Get, anonymous.Root);
        using var wrongScheme = await bearer.SendAsync(HttpMethod.Get, bearer.Root);
        using var stolen = await impostor.SendAsync(HttpMethod.Get, $"{impostor.Root}/deploymentBase/{actionId}");
        using var guessed = await wrongSecret.SendAsync(HttpMethod.Get, wrongSecret.Root);
        using var foreignAction = await other.SendAsync(HttpMethod.Get, $"{other.Root}/deploymentBase/{actionId}");
        using var foreignFeedback = await other.FeedbackAsync(actionId, "closed", "success", "mine now");

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Contains("missing 'Authorization: TargetToken <device token>'", await none.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, wrongScheme.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, stolen.StatusCode);
        Assert.Contains("not controller 'ddi-p6-1''s", await stolen.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, guessed.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, foreignAction.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, foreignFeedback.StatusCode);
        Assert.Equal((1UL, 0UL), ((await CountsAsync("DDI-P6")).Offered, (await CountsAsync("DDI-P6")).Succeeded));
    }

    [Fact]
    public async Task Auth_RefusedCallers_ReachNoGrain()
    {
        var otherToken = (await Scenario.RegisterAsync(Node, "ddi-p6-3"))["ddi-p6-3"];
        var refused = new List<HttpStatusCode>();
        foreach (var authorization in (string?[])[null, "Bearer " + otherToken, "TargetToken not-a-device-token", "TargetToken " + otherToken, "GatewayToken not-ours"])
        {
            using var ghost = new DdiClient(Ddi, "ddi-p6-ghost", null) { Authorization = authorization };
            using var poll = await ghost.SendAsync(HttpMethod.Get, ghost.Root);
            using var feedback = await ghost.FeedbackAsync(1, "closed", "success");
            using var download = await ghost.SendAsync(HttpMethod.Get, $"{ghost.Root}/softwaremodules/1/artifacts/image.swu");
            refused.AddRange([poll.StatusCode, feedback.StatusCode, download.StatusCode]);
        }

        var grains = (IGrainFactory)Node.Services.GetService(typeof(IGrainFactory))!;
        var active = await grains.GetGrain<Orleans.Runtime.IManagementGrain>(0).GetDetailedGrainStatistics();
        Assert.All(refused, status => Assert.Equal(HttpStatusCode.Unauthorized, status));
        Assert.DoesNotContain(active, a => a.GrainId.Key.ToString() == "device/ddi-p6-ghost");
        Assert.Contains(active, a => a.GrainId.Key.ToString() == "device/ddi-p6-3");
    }

    [Fact]
    public async Task BadInput_Is4xxNamingTheProblem_AndChangesNothing()
    {
        var (client, _, _, actionId) = await OfferedAsync("DDI-P7", "ddi-p7-1");
        var feedback = $"{client.Root}/deploymentBase/{actionId}/feedback";
        using var wrongTenant = new DdiClient(Ddi, "ddi-p7-1", null, tenant: "acme");

        var cases = new (HttpResponseMessage Response, HttpStatusCode Status, string Says)[]
        {
            (await client.SendAsync(HttpMethod.Post, feedback, "{\"status\": {"), HttpStatusCode.BadRequest, "body is not valid JSON"),
            (await client.SendAsync(HttpMethod.Post, feedback, "{\"pad\":\"" + new string('x', 70_000) + "\"}"), HttpStatusCode.RequestEntityTooLarge, "exceeds the limit of 65536 bytes"),
            (await client.SendAsync(HttpMethod.Post, feedback, ""), HttpStatusCode.BadRequest, "body is empty"),
            (await client.FeedbackAsync(actionId, "flying", "success"), HttpStatusCode.BadRequest, "status.execution 'flying' is not one of"),
            (await client.SendAsync(HttpMethod.Post, feedback, """{"status":{"execution":"closed"}}"""), HttpStatusCode.BadRequest, "status.result"),
            (await client.SendAsync(HttpMethod.Post, $"{client.Root}/deploymentBase/abc/feedback", DdiClient.FeedbackBody(1, "closed", "success")), HttpStatusCode.BadRequest, "actionId 'abc' must be a positive whole number"),
            (await wrongTenant.SendAsync(HttpMethod.Get, wrongTenant.Root), HttpStatusCode.NotFound, "tenant 'acme' is unknown"),
            (await client.PutConfigDataAsync("""{"model":"DDI-P7","version":"not a version!!"}"""), HttpStatusCode.BadRequest, "data.version: 'not a version!!' is not a firmware version"),
            (await client.PutConfigDataAsync("""{"battery_percent":"140"}"""), HttpStatusCode.BadRequest, "data.battery_percent: '140' must be a whole number from 0 to 100"),
            (await client.PutConfigDataAsync("{}"), HttpStatusCode.BadRequest, "'data' must not be empty"),
        };

        foreach (var (response, status, says) in cases)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(status == response.StatusCode, $"{says}: got {(int)response.StatusCode} {text}");
            Assert.Contains(says, text);
            response.Dispose();
        }

        var root = await client.PollAsync();
        Assert.Equal($"{Ddi}/DEFAULT/controller/v1/ddi-p7-1/deploymentBase/{actionId}", DdiClient.Link(root, "deploymentBase"));
        var counts = await CountsAsync("DDI-P7");
        Assert.Equal((1UL, 0UL, 0UL), (counts.Offered, counts.Succeeded, counts.Failed));
        Assert.Equal(Device.V1.OfferStatus.Offered, (await DeviceAsync("ddi-p7-1")).CurrentOffer.Status);
    }

    [Theory]
    [InlineData("../admin-api-key")]
    [InlineData(".hidden.swu")]
    [InlineData("dir/update.swu")]
    [InlineData("update.swu.MD5SUM")]
    public async Task Upload_FileNameWithAPathOrOfTheChecksumLink_IsInvalidArgument(string fileName)
    {
        var metadata = Scenario.Full("DDI-P11", "R2.0");
        metadata.Filename = fileName;

        var e = await RpcAssert.FailsAsync(Grpc.Core.StatusCode.InvalidArgument, () => Scenario.UploadAsync(Node, metadata, [1, 2, 3]));

        Assert.Equal(new[] { "metadata.filename" }, RpcAssert.Fields(e));
    }

    [Fact]
    public async Task ConfigData_WithoutTheVersion_Is400NamingTheAttribute_AndTheDeviceStaysUnoffered()
    {
        var (client, _, _, _) = await SetUpAsync("DDI-P8", "ddi-p8-1");

        using var put = await client.PutConfigDataAsync("""{"model":"DDI-P8","hw_revision":"r2"}""");
        var root = await client.PollAsync();

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("data.version is required", await put.Content.ReadAsStringAsync());
        Assert.Equal(new[] { "configData" }, root["_links"]!.AsObject().Select(p => p.Key).ToArray());
    }

    [Fact]
    public async Task Cancel_CanceledCampaign_ShowsCancelAction_UntilAcknowledged()
    {
        var (client, _, _, actionId) = await OfferedAsync("DDI-P9", "ddi-p9-1");
        await Node.Admin.CancelCampaignAsync(new CampaignRequest { CampaignId = "c-DDI-P9", Reason = "wrong build" }, Node.AdminHeaders);

        var canceling = await client.PollAsync();
        var cancelHref = DdiClient.Link(canceling, "cancelAction")!;
        using var cancel = await client.SendAsync(HttpMethod.Get, cancelHref);
        var cancelBody = await DdiClient.JsonAsync(cancel);
        using var deployment = await client.SendAsync(HttpMethod.Get, $"{client.Root}/deploymentBase/{actionId}");
        using var ack = await client.SendAsync(HttpMethod.Post, cancelHref + "/feedback",
            $$$"""{"id":{{{actionId}}},"time":"20261101T080000","status":{"result":{"finished":"success"},"execution":"closed","details":["cancellation acknowledged."]}}""");
        var after = await client.PollAsync();

        Assert.Null(DdiClient.Link(canceling, "deploymentBase"));
        Assert.Equal($"{Ddi}/DEFAULT/controller/v1/ddi-p9-1/cancelAction/{actionId}", cancelHref);
        Assert.Equal($$$"""{"id":"{{{actionId}}}","cancelAction":{"stopId":"{{{actionId}}}"}}""", cancelBody.ToJsonString());
        Assert.Equal(HttpStatusCode.NotFound, deployment.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ack.StatusCode);
        Assert.Null(DdiClient.Link(after, "cancelAction"));
        Assert.Null(DdiClient.Link(after, "deploymentBase"));
        Assert.Equal(Device.V1.OfferStatus.Canceled, (await DeviceAsync("ddi-p9-1")).CurrentOffer.Status);
    }

    [Fact]
    public async Task Cancel_WhileDownloading_ShowsCancelAction_AndTheAcknowledgementWithdrawsTheOfferAsCanceled()
    {
        var (client, _, _, actionId) = await OfferedAsync("DDI-P12", "ddi-p12-1");
        using var downloading = await client.FeedbackAsync(actionId, "download", "none", "Downloading update.swu");
        await Node.Admin.CancelCampaignAsync(new CampaignRequest { CampaignId = "c-DDI-P12", Reason = "wrong build" }, Node.AdminHeaders);

        var canceling = await client.PollAsync();
        var stillOpen = (await DeviceAsync("ddi-p12-1")).CurrentOffer.Status;
        using var cancel = await client.SendAsync(HttpMethod.Get, DdiClient.Link(canceling, "cancelAction")!);
        using var ack = await client.SendAsync(HttpMethod.Post, $"{client.Root}/cancelAction/{actionId}/feedback",
            DdiClient.FeedbackBody(actionId, "closed", "success", "cancellation acknowledged."));
        using var late = await client.FeedbackAsync(actionId, "proceeding", "none", "Installing Update Chunk Artifacts.");
        var after = await client.PollAsync();

        Assert.Equal(HttpStatusCode.OK, downloading.StatusCode);
        Assert.Null(DdiClient.Link(canceling, "deploymentBase"));
        Assert.Equal(Device.V1.OfferStatus.Downloading, stillOpen);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ack.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
        Assert.Null(DdiClient.Link(after, "cancelAction"));
        Assert.Equal(Device.V1.OfferStatus.Canceled, (await DeviceAsync("ddi-p12-1")).CurrentOffer.Status);
        var counts = await CountsAsync("DDI-P12");
        Assert.Equal((1UL, 0UL, 0UL), (counts.Canceled, counts.Failed, counts.InProgress));
    }

    [Fact]
    public async Task Cancel_OfAnActionInstalling_IsNotShown_AndAnAcknowledgementIs409()
    {
        var (client, _, _, actionId) = await OfferedAsync("DDI-P13", "ddi-p13-1");
        using var installing = await client.FeedbackAsync(actionId, "proceeding", "none", "Installing Update Chunk Artifacts.");
        await Node.Admin.CancelCampaignAsync(new CampaignRequest { CampaignId = "c-DDI-P13", Reason = "wrong build" }, Node.AdminHeaders);

        var root = await client.PollAsync();
        using var cancel = await client.SendAsync(HttpMethod.Get, $"{client.Root}/cancelAction/{actionId}");
        using var ack = await client.SendAsync(HttpMethod.Post, $"{client.Root}/cancelAction/{actionId}/feedback",
            DdiClient.FeedbackBody(actionId, "closed", "success", "Action canceled."));

        Assert.Equal($"{Ddi}/DEFAULT/controller/v1/ddi-p13-1/deploymentBase/{actionId}", DdiClient.Link(root, "deploymentBase"));
        Assert.Null(DdiClient.Link(root, "cancelAction"));
        Assert.Equal(HttpStatusCode.NotFound, cancel.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, ack.StatusCode);
        Assert.Equal(Device.V1.OfferStatus.Installing, (await DeviceAsync("ddi-p13-1")).CurrentOffer.Status);
    }

    [Fact]
    public async Task Halt_WithdrawsAnActionNotStarted_TheLinkDisappears_AndItsFeedbackIs410()
    {
        var (client, _, _, actionId) = await OfferedAsync("DDI-P10", "ddi-p10-1");
        await Node.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = "c-DDI-P10", Reason = "failure spike" }, Node.AdminHeaders);

        var halted = await client.PollAsync();
        using var late = await client.FeedbackAsync(actionId, "proceeding", "none", "Installing Update Chunk Artifacts.");

        Assert.DoesNotContain(halted["_links"]!.AsObject(), p => p.Key is "deploymentBase" or "cancelAction");
        Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
        Assert.Equal(Device.V1.OfferStatus.Canceled, (await DeviceAsync("ddi-p10-1")).CurrentOffer.Status);
    }
}
