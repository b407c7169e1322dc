using System.Net;
using Google.Api;
using Google.Protobuf.Reflection;
using ZteRollout.Admin.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// Every admin rpc (but the client-streamed upload) over HTTP/JSON, one row each: refused without a key (401), refused
/// to a key of too low a role (403), and answered to a key of the right role with the HTTP code of its gRPC status;
/// and the OpenAPI document lists each route with its verb. The rows are checked against the service descriptor, so
/// an rpc added without a route or a row fails here.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class AdminRestRoutesTests(NodeFixture fixture) : IDisposable
{
    private readonly OperatorClient _client = new(fixture.Node.OperatorAddress ?? throw new InvalidOperationException("the test node serves no operator listener"));

    private string AdminKey => fixture.Node.AdminKey;

    public void Dispose() => _client.Dispose();

    /// <summary>One call of one rpc: the key a lower role holds (null when every role may call it), the right key, the answer.</summary>
    private sealed record Route(string Rpc, string Method, string Path, string? Body, string? WrongRoleKey, string RightKey, HttpStatusCode Expected);

    private const string Viewer = NodeFixture.ViewerKey;
    private const string ReleaseManager = NodeFixture.ReleaseManagerKey;
    private const string Sre = NodeFixture.SreKey;

    /// <summary>In the order they run (freeze before unfreeze, create before revoke).</summary>
    private Route[] Routes =>
    [
        new("GetPackage", "GET", "/api/v1/packages/rest-no-such-package", null, null, Viewer, HttpStatusCode.NotFound),
        new("ListPackages", "GET", "/api/v1/packages?model=REST-R-NONE", null, null, Viewer, HttpStatusCode.OK),
        new("GenerateDelta", "POST", "/api/v1/deltas", """{"fromPackageId":"rest-no-a","toPackageId":"rest-no-b"}""", Viewer, ReleaseManager, HttpStatusCode.NotFound),
        new("GetSigningKey", "GET", "/api/v1/signing-key", null, null, Viewer, HttpStatusCode.OK),
        new("TrustReleaseKey", "POST", "/api/v1/signing-key:trust", "{}", Viewer, ReleaseManager, HttpStatusCode.BadRequest),
        new("RegisterDevices", "POST", "/api/v1/devices:register", """{"devices":[{"deviceId":"rest-route-dev"}]}""", Viewer, ReleaseManager, HttpStatusCode.OK),
        new("GetDevice", "GET", "/api/v1/devices/rest-route-no-device", null, null, Viewer, HttpStatusCode.NotFound),
        new("ExplainDevice", "GET", "/api/v1/devices/rest-route-no-device:explain", null, null, Viewer, HttpStatusCode.NotFound),
        new("CreateCampaign", "POST", "/api/v1/campaigns", """{"campaignId":"rest-route-bad","plan":{"name":""}}""", Viewer, ReleaseManager, HttpStatusCode.BadRequest),
        new("StartCampaign", "POST", "/api/v1/campaigns/rest-route-none:start", """{"reason":"r"}""", Viewer, ReleaseManager, HttpStatusCode.NotFound),
        new("CancelCampaign", "POST", "/api/v1/campaigns/rest-route-none:cancel", """{"reason":"r"}""", Viewer, ReleaseManager, HttpStatusCode.NotFound),
        new("GetCampaign", "GET", "/api/v1/campaigns/rest-route-none", null, null, Viewer, HttpStatusCode.NotFound),
        new("ListCampaigns", "GET", "/api/v1/campaigns", null, null, Viewer, HttpStatusCode.OK),
        new("ValidateCampaign", "POST", "/api/v1/campaigns:validate", """{"campaignId":"rest-route-v","plan":{"name":""}}""", null, Viewer, HttpStatusCode.OK),
        new("PauseCampaign", "POST", "/api/v1/campaigns/rest-route-none:pause", """{"reason":"r"}""", Viewer, ReleaseManager, HttpStatusCode.NotFound),
        new("ResumeCampaign", "POST", "/api/v1/campaigns/rest-route-none:resume", """{"reason":"r"}""", Viewer, Sre, HttpStatusCode.NotFound),
        new("AdvanceCampaign", "POST", "/api/v1/campaigns/rest-route-none:advance", """{"reason":"r"}""", Sre, ReleaseManager, HttpStatusCode.NotFound),
        new("HaltCampaign", "POST", "/api/v1/campaigns/rest-route-none:halt", """{"reason":"r"}""", ReleaseManager, Sre, HttpStatusCode.NotFound),
        new("LiftCohortHalt", "POST", "/api/v1/campaigns/rest-route-none:lift-cohort-halt", """{"dimension":"hardware_revision","value":"R3","reason":"r"}""", ReleaseManager, Sre, HttpStatusCode.NotFound),
        new("WatchCampaign", "GET", "/api/v1/campaigns/rest-route-none:watch", null, null, Viewer, HttpStatusCode.NotFound),
        new("FreezeFleet", "POST", "/api/v1/fleet:freeze", """{"reason":"route table"}""", ReleaseManager, Sre, HttpStatusCode.OK),
        new("UnfreezeFleet", "POST", "/api/v1/fleet:unfreeze", """{"reason":"route table done"}""", ReleaseManager, Sre, HttpStatusCode.OK),
        new("GetFleetStatus", "GET", "/api/v1/fleet", null, null, Viewer, HttpStatusCode.OK),
        new("CreateDdiGatewayToken", "POST", "/api/v1/ddi-gateway-tokens", """{"name":"rest-route-token"}""", Sre, AdminKey, HttpStatusCode.OK),
        new("ListDdiGatewayTokens", "GET", "/api/v1/ddi-gateway-tokens", null, Sre, AdminKey, HttpStatusCode.OK),
        new("RevokeDdiGatewayToken", "POST", "/api/v1/ddi-gateway-tokens/rest-route-no-token:revoke", "{}", Sre, AdminKey, HttpStatusCode.NotFound),
    ];

    /// <summary>The admin rpcs an HTTP/JSON caller has: all but the client-streamed upload (curl cannot stream a request in messages).</summary>
    private static IEnumerable<MethodDescriptor> TranscodedRpcs =>
        RolloutAdmin.Descriptor.Methods.Where(m => !m.IsClientStreaming);

    private static HttpRule? RuleOf(MethodDescriptor method) => method.GetOptions()?.GetExtension(AnnotationsExtensions.Http);

    [Fact]
    public void Table_HasARowForEveryRpc_AndEveryRpcAGoogleApiHttpRoute()
    {
        Assert.Equal(["UploadPackage"], RolloutAdmin.Descriptor.Methods.Where(m => m.IsClientStreaming).Select(m => m.Name));
        Assert.Equal(TranscodedRpcs.Select(m => m.Name).Order(), Routes.Select(r => r.Rpc).Order());
        Assert.All(TranscodedRpcs, method => Assert.NotNull(RuleOf(method)));
    }

    [Fact]
    public async Task EveryRoute_WithoutAKey_Is401_WithTooLowARole_403_WithTheRightRole_ItsStatusCode()
    {
        var answers = new List<string>();
        foreach (var route in Routes)
        {
            var method = new HttpMethod(route.Method);
            using var noKey = await _client.SendAsync(method, route.Path, key: null, route.Body);
            answers.Add($"{route.Rpc} without key: {(int)noKey.StatusCode}");
            if (route.WrongRoleKey is { } wrongKey)
            {
                using var wrongRole = await _client.SendAsync(method, route.Path, wrongKey, route.Body);
                answers.Add($"{route.Rpc} wrong role: {(int)wrongRole.StatusCode}");
            }

            using var right = await _client.SendAsync(method, route.Path, route.RightKey, route.Body);
            answers.Add($"{route.Rpc} right role: {(int)right.StatusCode}");
        }

        // All at once, so one run shows every route that answers otherwise.
        var expected = Routes.SelectMany(route => new[]
        {
            $"{route.Rpc} without key: 401",
            route.WrongRoleKey is null ? null : $"{route.Rpc} wrong role: 403",
            $"{route.Rpc} right role: {(int)route.Expected}",
        }.OfType<string>());
        Assert.Equal(expected, answers);
    }

    [Fact]
    public async Task ResourceExhausted_Is429_NamingTheLimit()
    {
        var devices = string.Join(",", Enumerable.Range(0, 1001).Select(i => $$"""{"deviceId":"rest-many-{{i}}"}"""));
        using var tooMany = await _client.PostAsync("/api/v1/devices:register", ReleaseManager, $$"""{"devices":[{{devices}}]}""");

        Assert.Equal(HttpStatusCode.TooManyRequests, tooMany.StatusCode);
        var body = await OperatorClient.JsonAsync(tooMany);
        Assert.Equal(8, body["code"]!.GetValue<int>());
        Assert.Equal("devices: at most 1000 per call, got 1001", body["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task OpenApi_ListsEveryRoute_WithItsVerb()
    {
        using var document = await _client.GetAsync("/openapi/v1.json", Viewer);
        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
        var paths = (await OperatorClient.JsonAsync(document))["paths"]!.AsObject();

        var missing = new List<string>();
        foreach (var method in TranscodedRpcs)
        {
            var rule = RuleOf(method)!;
            var (verb, template) = rule.PatternCase == HttpRule.PatternOneofCase.Get ? ("get", rule.Get) : ("post", rule.Post);
            var path = OpenApiPath(method, template);
            if (paths[path]?[verb] is null)
            {
                missing.Add($"{method.Name}: {verb} {path}");
            }
        }

        Assert.Empty(missing);
    }

    /// <summary>A route template as the OpenAPI document names it: path parameters in their JSON (camelCase) names.</summary>
    private static string OpenApiPath(MethodDescriptor method, string template) =>
        System.Text.RegularExpressions.Regex.Replace(template, @"\{([a-z_]+)\}", match =>
            "{" + method.InputType.FindFieldByName(match.Groups[1].Value).JsonName + "}");
}
