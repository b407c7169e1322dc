using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Shared.Packages;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Gateway;

/// <summary>Rollback packages over the admin API: their signed terms, the checks on them, and whom a rollback campaign offers them to.</summary>
[Collection(NodeCollection.Name)]
public sealed class RollbackPackageTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    [Fact]
    public async Task Upload_PreviousImageAgainAsRollbackPackage_IsANewPackageWhoseSignedManifestCarriesTheTerms()
    {
        var image = Scenario.RandomBytes(8_000, seed: 71);
        var previous = await Scenario.UploadAsync(Node, Scenario.Full("RP-A", "RP1.7"), image);
        var metadata = Scenario.Full("RP-A", "RP1.7");
        metadata.SecurityVersion = 2;
        metadata.RollbackFrom.Add("RP1.8");
        metadata.RollbackFrom.Add("RP1.8.1");

        var rollback = await Scenario.UploadAsync(Node, metadata, image);
        var key = await Node.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), Node.AdminHeaders);

        Assert.NotEqual(previous.PackageId, rollback.PackageId);
        Assert.True(ManifestSignature.Verify(rollback.Manifest.Span, rollback.ManifestSignature.Span, key.PublicKeyPem));
        var manifest = ManifestCodec.Decode(rollback.Manifest.Span);
        Assert.Equal((2U, "RP1.8,RP1.8.1"), (manifest.SecurityVersion, string.Join(',', manifest.RollbackFrom)));
        Assert.Equal((0U, 0), (ManifestCodec.Decode(previous.Manifest.Span).SecurityVersion, ManifestCodec.Decode(previous.Manifest.Span).RollbackFrom.Length));
        Assert.Equal((2U, "RP1.8,RP1.8.1"), (rollback.Metadata.SecurityVersion, string.Join(',', rollback.Metadata.RollbackFrom)));
        Assert.Equal(rollback.PackageId, (await Scenario.UploadAsync(Node, metadata, image)).PackageId);
    }

    [Fact]
    public async Task Upload_RollbackFromNotParsingNotAboveOrTwice_IsInvalidArgumentNamingEachEntry()
    {
        var metadata = Scenario.Full("RP-B", "RP2.0");
        metadata.RollbackFrom.Add(["RP2.1", "", "RP2.0", "RP1.9", "rp2.1"]);

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(1000, seed: 72)));

        Assert.Equal(
            new[] { "metadata.rollback_from[1]", "metadata.rollback_from[2]", "metadata.rollback_from[3]", "metadata.rollback_from[4]" },
            RpcAssert.Fields(e));
    }

    [Fact]
    public async Task Upload_DeltaWithRollbackFrom_IsInvalidArgument()
    {
        var metadata = Scenario.Delta("RP-C", "RP0.9", "RP1.0");
        metadata.RollbackFrom.Add("RP1.1");

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(1000, seed: 73)));

        Assert.Equal(new[] { "metadata.rollback_from" }, RpcAssert.Fields(e));
    }

    [Fact]
    public async Task CreateCampaign_RollbackToAPackageThatAuthorizesNoDowngrade_IsInvalidArgumentNamingTheTarget()
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full("RP-D", "RP1.0"), Scenario.RandomBytes(1000, seed: 74));
        var plan = new CampaignPlan
        {
            Name = "back",
            Rollback = true,
            Targets = { new CampaignTarget { Model = "RP-D", PackageId = package.PackageId } },
        };

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = "rp-d", Plan = plan }, Node.AdminHeaders).ResponseAsync);

        Assert.Equal(new[] { "plan.targets[0].package_id" }, RpcAssert.Fields(e));
    }

    [Fact]
    public async Task ValidateCampaign_Rollback_CountsOnlyDevicesOnAVersionThePackageAuthorizes()
    {
        var metadata = Scenario.Full("RP-F", "RP1.0");
        metadata.RollbackFrom.Add("RP1.1");
        var package = await Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(1000, seed: 76));
        var tokens = await Scenario.RegisterAsync(Node, "rp-f-1", "rp-f-2", "rp-f-3");
        foreach (var (id, version) in new[] { ("rp-f-1", "RP1.1"), ("rp-f-2", "RP1.2"), ("rp-f-3", "RP1.0") })
        {
            await Scenario.CheckInAsync(Node, id, tokens[id], Scenario.Facts("RP-F", version));
        }

        var plan = new CampaignPlan
        {
            Name = "back",
            Rollback = true,
            Targets = { new CampaignTarget { Model = "RP-F", PackageId = package.PackageId } },
            Stages = { new Stage { Percent = 100 } },
        };
        var dryRun = await Node.Admin.ValidateCampaignAsync(new CreateCampaignRequest { CampaignId = "rp-f", Plan = plan }, Node.AdminHeaders);

        Assert.Equal((true, 1UL), (dryRun.Valid, dryRun.EligibleDevices));
    }

    [Fact]
    public async Task CheckIn_RollbackCampaign_OffersThePackageOnlyToDevicesOnAVersionItAuthorizes()
    {
        var metadata = Scenario.Full("RP-E", "RP1.0");
        metadata.RollbackFrom.Add("RP1.1");
        var package = await Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(1000, seed: 75));
        var plan = new CampaignPlan
        {
            Name = "back",
            Rollback = true,
            Targets = { new CampaignTarget { Model = "RP-E", PackageId = package.PackageId } },
        };
        await Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = "rp-e", Plan = plan }, Node.AdminHeaders);
        await Node.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = "rp-e", Reason = "test" }, Node.AdminHeaders);
        var tokens = await Scenario.RegisterAsync(Node, "rp-e-1", "rp-e-2", "rp-e-3");

        var authorized = await Scenario.CheckInAsync(Node, "rp-e-1", tokens["rp-e-1"], Scenario.Facts("RP-E", "RP1.1"));
        var higher = await Scenario.CheckInAsync(Node, "rp-e-2", tokens["rp-e-2"], Scenario.Facts("RP-E", "RP1.2"));
        var same = await Scenario.CheckInAsync(Node, "rp-e-3", tokens["rp-e-3"], Scenario.Facts("RP-E", "RP1.0"));

        Assert.Equal(package.PackageId, authorized.Offer?.PackageId);
        Assert.Equal(
            (CheckInResponse.DecisionOneofCase.NoUpdate, CheckInResponse.DecisionOneofCase.NoUpdate),
            (higher.DecisionCase, same.DecisionCase));
    }
}
