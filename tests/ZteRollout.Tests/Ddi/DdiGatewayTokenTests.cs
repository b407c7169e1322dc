using System.Net;
using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Ddi;

/// <summary>hawkBit DDI gateway tokens: created by an admin, acting for any registered device, revocable.</summary>
[Collection(NodeCollection.Name)]
public sealed class DdiGatewayTokenTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    [Fact]
    public async Task GatewayToken_ActsForARegisteredDevice_NotForAnUnknownOne_AndRevokedIsRefused()
    {
        const string Model = "DDI-GW";
        var metadata = Scenario.Full(Model, "R2.0");
        metadata.Filename = "image.swu";
        var package = await Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(2048, seed: 5));
        await Scenario.StartCampaignAsync(Node, "c-" + Model, Model, package.PackageId);
        await Scenario.RegisterAsync(Node, "gw-dev-1");
        var created = await Node.Admin.CreateDdiGatewayTokenAsync(new CreateDdiGatewayTokenRequest { Name = "edge-1" }, Node.AdminHeaders);
        var revokedLater = await Node.Admin.CreateDdiGatewayTokenAsync(new CreateDdiGatewayTokenRequest { Name = "edge-2" }, Node.AdminHeaders);
        await Node.Admin.RevokeDdiGatewayTokenAsync(new RevokeDdiGatewayTokenRequest { Name = "edge-2" }, Node.AdminHeaders);

        using var gateway = new DdiClient(Node.DdiAddress!, "gw-dev-1", null) { Authorization = "GatewayToken " + created.Secret };
        using var put = await gateway.PutConfigDataAsync($$"""{"model":"{{Model}}","version":"R1.0"}""");
        var root = await gateway.PollAsync();
        var href = DdiClient.Link(root, "deploymentBase")!;
        using var closed = await gateway.FeedbackAsync(int.Parse(href[(href.LastIndexOf('/') + 1)..]), "closed", "success", "Software bundle installed successfully.");
        using var unknown = new DdiClient(Node.DdiAddress!, "gw-nobody", null) { Authorization = "GatewayToken " + created.Secret };
        using var unknownPoll = await unknown.SendAsync(HttpMethod.Get, unknown.Root);
        using var revoked = new DdiClient(Node.DdiAddress!, "gw-dev-1", null) { Authorization = "GatewayToken " + revokedLater.Secret };
        using var revokedPoll = await revoked.SendAsync(HttpMethod.Get, revoked.Root);
        using var forged = new DdiClient(Node.DdiAddress!, "gw-dev-1", null) { Authorization = "GatewayToken zgt1_" + new string('0', 64) };
        using var forgedPoll = await forged.SendAsync(HttpMethod.Get, forged.Root);
        var list = await Node.Admin.ListDdiGatewayTokensAsync(new ListDdiGatewayTokensRequest(), Node.AdminHeaders);

        Assert.StartsWith("zgt1_", created.Secret);
        Assert.Equal(("edge-1", "local-admin"), (created.Token.Name, created.Token.CreatedBy));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(HttpStatusCode.OK, closed.StatusCode);
        Assert.Equal(1UL, (await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-" + Model }, Node.AdminHeaders)).Counts.Succeeded);
        Assert.Equal(HttpStatusCode.NotFound, unknownPoll.StatusCode);
        Assert.Contains("device 'gw-nobody' is not registered", await unknownPoll.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, revokedPoll.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, forgedPoll.StatusCode);
        Assert.Equal(new[] { ("edge-1", false), ("edge-2", true) }, list.Tokens.Where(t => t.Name.StartsWith("edge-", StringComparison.Ordinal) && t.Name.Length == 6).Select(t => (t.Name, t.RevokedAt is not null)).ToArray());
    }

    [Fact]
    public async Task GatewayToken_OnlyAnAdminCreatesOrRevokes_AndNamesAreChecked()
    {
        var asReleaseManager = await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => Node.Admin.CreateDdiGatewayTokenAsync(
            new CreateDdiGatewayTokenRequest { Name = "edge-rm" }, EmbeddedNodeHost.Bearer(NodeFixture.ReleaseManagerKey)).ResponseAsync);
        var badName = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => Node.Admin.CreateDdiGatewayTokenAsync(
            new CreateDdiGatewayTokenRequest { Name = "no spaces" }, Node.AdminHeaders).ResponseAsync);
        await Node.Admin.CreateDdiGatewayTokenAsync(new CreateDdiGatewayTokenRequest { Name = "edge-twice" }, Node.AdminHeaders);
        await RpcAssert.FailsAsync(StatusCode.AlreadyExists, () => Node.Admin.CreateDdiGatewayTokenAsync(
            new CreateDdiGatewayTokenRequest { Name = "edge-twice" }, Node.AdminHeaders).ResponseAsync);
        await RpcAssert.FailsAsync(StatusCode.NotFound, () => Node.Admin.RevokeDdiGatewayTokenAsync(
            new RevokeDdiGatewayTokenRequest { Name = "edge-never" }, Node.AdminHeaders).ResponseAsync);

        Assert.Contains("has role 'release-manager'", asReleaseManager.Status.Detail);
        Assert.Equal(new[] { "name" }, RpcAssert.Fields(badName));
    }

    [Fact]
    public async Task Cli_GatewayTokenCreateListRevoke()
    {
        string[] server = ["--gateway", Node.Address, "--api-key", Node.AdminKey];

        var created = await CliRunner.RunAsync(["ddi", "gateway-token", "create", "cli-edge", .. server]);
        var revoked = await CliRunner.RunAsync(["ddi", "gateway-token", "revoke", "cli-edge", .. server]);
        var listed = await CliRunner.RunAsync(["ddi", "gateway-token", "list", .. server]);

        Assert.Equal(0, created.ExitCode);
        Assert.Contains("gateway token 'cli-edge' created by local-admin", created.Stdout);
        Assert.Contains("zgt1_", created.Stdout);
        Assert.Equal(0, revoked.ExitCode);
        Assert.Contains("cli-edge", listed.Stdout);
        Assert.Contains("revoked", listed.Stdout.Split('\n').Single(l => l.StartsWith("cli-edge", StringComparison.Ordinal)));
    }
}
