using System.Net;
using System.Text.Json.Nodes;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// The admin API over HTTP/JSON on the operator listener (gRPC JSON transcoding): routes, HTTP codes for gRPC
/// statuses, the same API keys and roles, the OpenAPI document, and the listener kept apart from the device ones.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class OperatorApiTests(NodeFixture fixture) : IDisposable
{
    private readonly OperatorClient _client = new(fixture.Node.OperatorAddress ?? throw new InvalidOperationException("the test node serves no operator listener"));

    private EmbeddedNodeHost Node => fixture.Node;

    public void Dispose() => _client.Dispose();

    /// <summary>A package for <paramref name="model"/> and a DRAFT campaign of it, created over JSON.</summary>
    private async Task<HttpResponseMessage> CreateDraftAsync(string campaignId, string model, string key)
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full(model, "R2.0"), Scenario.RandomBytes(4096, seed: model.Length));
        return await _client.PostAsync("/api/v1/campaigns", key, $$"""
            {"campaignId":"{{campaignId}}","plan":{"name":"{{campaignId}}","targets":[{"model":"{{model}}","packageId":"{{package.PackageId}}"}],
             "eligibility":{"models":["{{model}}"]},"inProgressTimeoutSeconds":3600 } }
            """);
    }

    [Fact]
    public async Task CampaignLifecycle_OverJson_CreatesListsStartsAndHalts_WithTheRolesOfTheGrpcApi()
    {
        using var created = await CreateDraftAsync("rest-life", "REST-L1", NodeFixture.ReleaseManagerKey);
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        Assert.Equal("CAMPAIGN_STATE_DRAFT", (await OperatorClient.JsonAsync(created))["state"]!.GetValue<string>());

        using var started = await _client.PostAsync("/api/v1/campaigns/rest-life:start", NodeFixture.ReleaseManagerKey, """{"reason":"go"}""");
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);

        using var listed = await _client.GetAsync("/api/v1/campaigns?state=CAMPAIGN_STATE_RUNNING", NodeFixture.ViewerKey);
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        var campaigns = (await OperatorClient.JsonAsync(listed))["campaigns"]!.AsArray();
        Assert.Contains(campaigns, c => c!["campaignId"]!.GetValue<string>() == "rest-life");

        using var viewerHalt = await _client.PostAsync("/api/v1/campaigns/rest-life:halt", NodeFixture.ViewerKey, """{"reason":"spike"}""");
        Assert.Equal(HttpStatusCode.Forbidden, viewerHalt.StatusCode);

        using var halted = await _client.PostAsync("/api/v1/campaigns/rest-life:halt", NodeFixture.SreKey, """{"reason":"failure spike"}""");
        Assert.Equal(HttpStatusCode.OK, halted.StatusCode);
        var haltedBody = await OperatorClient.JsonAsync(halted);
        Assert.Equal("CAMPAIGN_STATE_HALTED", haltedBody["state"]!.GetValue<string>());

        using var read = await _client.GetAsync("/api/v1/campaigns/rest-life", NodeFixture.ViewerKey);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        var audit = (await OperatorClient.JsonAsync(read))["audit"]!.AsArray();
        Assert.Contains(audit, entry => entry!["reason"]?.GetValue<string>() == "failure spike");
    }

    [Fact]
    public async Task Calls_WithoutKey_Are401_WithAWrongKey_401_WithTooLowARole_403()
    {
        using var noKey = await _client.GetAsync("/api/v1/campaigns", key: null);
        using var wrongKey = await _client.GetAsync("/api/v1/campaigns", "zak1_not-a-key");
        using var viewerFreeze = await _client.PostAsync("/api/v1/fleet:freeze", NodeFixture.ViewerKey, """{"reason":"x"}""");
        using var releaseManagerToken = await _client.PostAsync("/api/v1/ddi-gateway-tokens", NodeFixture.ReleaseManagerKey, """{"name":"rest-t1"}""");

        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, viewerFreeze.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, releaseManagerToken.StatusCode);
    }

    [Fact]
    public async Task Errors_AreTheGrpcStatuses_MappedToHttpCodes_WithTheirMessage()
    {
        // NotFound → 404
        using var missing = await _client.GetAsync("/api/v1/campaigns/rest-no-such", NodeFixture.ViewerKey);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var missingBody = await OperatorClient.JsonAsync(missing);
        Assert.Equal(5, missingBody["code"]!.GetValue<int>());
        Assert.Contains("rest-no-such", missingBody["message"]!.GetValue<string>());

        // InvalidArgument → 400, naming the field.
        using var invalid = await _client.PostAsync("/api/v1/campaigns", NodeFixture.ReleaseManagerKey, """{"campaignId":"rest-bad","plan":{"name":""}}""");
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        var invalidBody = await OperatorClient.JsonAsync(invalid);
        Assert.Equal(3, invalidBody["code"]!.GetValue<int>());
        var violations = invalidBody["details"]![0]!["fieldViolations"]!.AsArray();
        Assert.Equal("type.googleapis.com/google.rpc.BadRequest", invalidBody["details"]![0]!["@type"]!.GetValue<string>());
        Assert.Contains(violations, v => v!["field"]!.GetValue<string>() == "plan.name");

        // AlreadyExists → 409.
        using var first = await CreateDraftAsync("rest-dup", "REST-D1", NodeFixture.ReleaseManagerKey);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using var again = await CreateDraftAsync("rest-dup", "REST-D1", NodeFixture.ReleaseManagerKey);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(6, (await OperatorClient.JsonAsync(again))["code"]!.GetValue<int>());

        // FailedPrecondition → 400: a DRAFT campaign cannot be halted.
        using var halt = await _client.PostAsync("/api/v1/campaigns/rest-dup:halt", NodeFixture.SreKey, """{"reason":"not running"}""");
        Assert.Equal(HttpStatusCode.BadRequest, halt.StatusCode);
        Assert.Equal(9, (await OperatorClient.JsonAsync(halt))["code"]!.GetValue<int>());

        // A body that is not JSON → 400, not 500.
        using var garbage = await _client.PostAsync("/api/v1/fleet:freeze", NodeFixture.SreKey, "{not json");
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
    }

    [Fact]
    public async Task FleetAndPackagesAndDevices_AreReachable_OverJson()
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full("REST-P1", "R3.0"), Scenario.RandomBytes(2048, seed: 7));
        using var registered = await _client.PostAsync("/api/v1/devices:register", NodeFixture.ReleaseManagerKey, """{"devices":[{"deviceId":"rest-dev-1","tags":["lab"]}]}""");
        using var device = await _client.GetAsync("/api/v1/devices/rest-dev-1", NodeFixture.ViewerKey);
        using var explained = await _client.GetAsync("/api/v1/devices/rest-dev-1:explain", NodeFixture.ViewerKey);
        using var packages = await _client.GetAsync("/api/v1/packages?model=REST-P1", NodeFixture.ViewerKey);
        using var onePackage = await _client.GetAsync("/api/v1/packages/" + package.PackageId, NodeFixture.ViewerKey);
        using var signingKey = await _client.GetAsync("/api/v1/signing-key", NodeFixture.ViewerKey);
        using var fleet = await _client.GetAsync("/api/v1/fleet", NodeFixture.ViewerKey);

        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        Assert.Equal("rest-dev-1", (await OperatorClient.JsonAsync(registered))["credentials"]![0]!["deviceId"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, device.StatusCode);
        Assert.Equal("lab", (await OperatorClient.JsonAsync(device))["tags"]![0]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, explained.StatusCode);
        Assert.Equal(HttpStatusCode.OK, packages.StatusCode);
        Assert.Equal(package.PackageId, (await OperatorClient.JsonAsync(packages))["packages"]![0]!["packageId"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, onePackage.StatusCode);
        Assert.Equal(HttpStatusCode.OK, signingKey.StatusCode);
        Assert.Equal("ECDSA-P256-SHA256", (await OperatorClient.JsonAsync(signingKey))["algorithm"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, fleet.StatusCode);
    }

    [Fact]
    public async Task OpenApi_ListsTheAdminRoutes_AndNeedsAKey()
    {
        using var noKey = await _client.GetAsync("/openapi/v1.json", key: null);
        using var document = await _client.GetAsync("/openapi/v1.json", NodeFixture.ViewerKey);

        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
        var paths = (await OperatorClient.JsonAsync(document))["paths"]!.AsObject();
        string[] expected =
        [
            "/api/v1/campaigns", "/api/v1/campaigns/{campaignId}", "/api/v1/campaigns/{campaignId}:halt", "/api/v1/campaigns/{campaignId}:resume",
            "/api/v1/campaigns:validate", "/api/v1/packages", "/api/v1/devices/{deviceId}", "/api/v1/fleet:freeze", "/api/v1/ddi-gateway-tokens",
        ];
        Assert.All(expected, path => Assert.True(paths.ContainsKey(path), $"{path} is missing; the document has {string.Join(", ", paths.Select(p => p.Key))}"));
        Assert.NotNull(paths["/api/v1/campaigns/{campaignId}:halt"]!["post"]);
        Assert.NotNull(paths["/api/v1/campaigns"]!["get"]);
    }

    [Fact]
    public async Task OperatorRoutes_AreNotServedOnTheDeviceListeners_NorDeviceRoutesOnTheOperatorListener()
    {
        // The gRPC listener speaks h2c only; an HTTP/2 client with prior knowledge reaches its routes.
        using var h2c = new HttpClient();
        using var apiOnGrpcPort = new HttpRequestMessage(HttpMethod.Get, Node.Address.TrimEnd('/') + "/api/v1/campaigns")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        apiOnGrpcPort.Headers.Authorization = new("Bearer", Node.AdminKey);
        using var apiOnGrpc = await h2c.SendAsync(apiOnGrpcPort);

        using var ddiClient = new OperatorClient(Node.DdiAddress!);
        using var apiOnDdi = await ddiClient.GetAsync("/api/v1/campaigns", Node.AdminKey);
        using var metricsOnDdi = await ddiClient.GetAsync("/metrics", Node.AdminKey);
        using var ddiOnOperator = await _client.GetAsync("/default/controller/v1/op-dev-1", null);

        Assert.Equal(HttpStatusCode.NotFound, apiOnGrpc.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, apiOnDdi.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, metricsOnDdi.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, ddiOnOperator.StatusCode);
    }
}
