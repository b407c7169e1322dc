using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Tests.Infrastructure;
using CampaignPlan = ZteRollout.Admin.V1.CampaignPlan;
using CampaignState = ZteRollout.Admin.V1.CampaignState;
using CampaignTarget = ZteRollout.Admin.V1.CampaignTarget;

namespace ZteRollout.Tests.Gateway;

/// <summary>Campaign administration over gRPC: roles per transition, dry runs, and the status figures.</summary>
[Collection(NodeCollection.Name)]
public sealed class CampaignAdminTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    private static Metadata Key(string key) => EmbeddedNodeHost.Bearer(key);

    [Fact]
    public async Task Roles_ReleaseManagerRunsCampaigns_SreHaltsAndResumes_NeitherDoesTheOthersJob()
    {
        var pkg = await Scenario.UploadAsync(Node, Scenario.Full("ROLE-A", "RA2.0"), [1, 2, 3], headers: Key(NodeFixture.ReleaseManagerKey));
        var plan = new CampaignPlan { Name = "roles", Targets = { new CampaignTarget { Model = "ROLE-A", PackageId = pkg.PackageId } } };
        var request = new CampaignRequest { CampaignId = "roles-a", Reason = "why not" };

        await Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = "roles-a", Plan = plan }, Key(NodeFixture.ReleaseManagerKey));
        var sreStart = await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => Node.Admin.StartCampaignAsync(request, Key(NodeFixture.SreKey)).ResponseAsync);
        await Node.Admin.StartCampaignAsync(request, Key(NodeFixture.ReleaseManagerKey));
        var rmHalt = await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => Node.Admin.HaltCampaignAsync(request, Key(NodeFixture.ReleaseManagerKey)).ResponseAsync);
        var halted = await Node.Admin.HaltCampaignAsync(request, Key(NodeFixture.SreKey));
        var rmResume = await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => Node.Admin.ResumeCampaignAsync(request, Key(NodeFixture.ReleaseManagerKey)).ResponseAsync);
        var resumed = await Node.Admin.ResumeCampaignAsync(request, Key(NodeFixture.SreKey));
        var viewerFreeze = await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => Node.Admin.FreezeFleetAsync(new FleetRequest { Reason = "x" }, Key(NodeFixture.ViewerKey)).ResponseAsync);

        Assert.Contains("role 'sre'", sreStart.Status.Detail);
        Assert.Contains("role 'release-manager'", rmHalt.Status.Detail);
        Assert.Contains("only an SRE may resume", rmResume.Status.Detail);
        Assert.Equal((CampaignState.Halted, "oncall", "why not"), (halted.State, halted.Halt.By, halted.Halt.Reason));
        Assert.Equal(CampaignState.Running, resumed.State);
        Assert.Contains("role 'viewer'", viewerFreeze.Status.Detail);
        Assert.Equal(
            new[] { ("create", "release-bot"), ("start", "release-bot"), ("halt", "oncall"), ("resume", "oncall") },
            resumed.Audit.Select(a => (a.Action, a.Actor)).ToArray());
    }

    [Fact]
    public async Task Pause_ThenAdvance_IsFailedPrecondition_AndManualAdvanceMovesStages()
    {
        var pkg = await Scenario.UploadAsync(Node, Scenario.Full("ROLE-B", "RB2.0"), [4, 5, 6]);
        var plan = new CampaignPlan
        {
            Name = "manual",
            Targets = { new CampaignTarget { Model = "ROLE-B", PackageId = pkg.PackageId } },
            AutoAdvance = false,
            Stages = { new Stage { Percent = 10 }, new Stage { Percent = 100 } },
        };
        var request = new CampaignRequest { CampaignId = "manual-b" };
        await Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = "manual-b", Plan = plan }, Node.AdminHeaders);
        await Node.Admin.StartCampaignAsync(request, Node.AdminHeaders);

        await Node.Admin.PauseCampaignAsync(request, Node.AdminHeaders);
        var whilePaused = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, () => Node.Admin.AdvanceCampaignAsync(request, Node.AdminHeaders).ResponseAsync);
        await Node.Admin.ResumeCampaignAsync(request, Node.AdminHeaders);
        var second = await Node.Admin.AdvanceCampaignAsync(request, Node.AdminHeaders);
        var done = await Node.Admin.AdvanceCampaignAsync(request, Node.AdminHeaders);

        Assert.Equal("campaign 'manual-b' is PAUSED; advance needs RUNNING", whilePaused.Status.Detail);
        Assert.Equal((CampaignState.Running, 1U), (second.State, second.CurrentStage));
        Assert.Equal(CampaignState.Completed, done.State);
        Assert.Equal(2, second.Stages.Count(s => s.StartedAt is not null));
    }

    [Fact]
    public async Task ValidateCampaign_ListsProblems_AndPredictsReachPerStage()
    {
        var pkg = await Scenario.UploadAsync(Node, Scenario.Full("DRY-A", "D2.0"), [7, 7, 7]);
        var ids = Enumerable.Range(0, 300).Select(i => $"dry-a-{i}").ToArray();
        var tokens = await Scenario.RegisterAsync(Node, ids);
        await Task.WhenAll(ids.Select((id, i) => Scenario.CheckInAsync(Node, id, tokens[id], Scenario.Facts("DRY-A", i < 200 ? "D1.0" : "D3.0"))));
        var plan = new CampaignPlan
        {
            Name = "dry",
            Targets = { new CampaignTarget { Model = "DRY-A", PackageId = pkg.PackageId } },
            Stages = { new Stage { Percent = 10 }, new Stage { Percent = 50 }, new Stage { Percent = 100 } },
        };

        var dry = await Node.Admin.ValidateCampaignAsync(new CreateCampaignRequest { CampaignId = "dry-a", Plan = plan }, Key(NodeFixture.ViewerKey));
        plan.Stages.Add(new Stage { Percent = 50 });
        var bad = await Node.Admin.ValidateCampaignAsync(new CreateCampaignRequest { CampaignId = "dry-a", Plan = plan }, Node.AdminHeaders);

        var eligible = ids.Take(200).ToList();
        var expected = new[] { 10.0, 50, 100 }.Select(p => (ulong)eligible.Count(id => Bucketing.IsExposed(Bucketing.BucketOf("dry-a", id), p))).ToArray();
        Assert.True(dry.Valid);
        Assert.Equal(200UL, dry.EligibleDevices);
        Assert.Equal(expected, dry.DevicesPerStage.ToArray());
        Assert.False(bad.Valid);
        Assert.Equal(new[] { "plan.stages[3].percent" }, bad.Problems.Select(p => p.Field).ToArray());
    }
}
