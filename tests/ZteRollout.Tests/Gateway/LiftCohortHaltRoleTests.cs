using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Gateway;

/// <summary>Lifting a cohort halt is an SRE's decision, like resuming a halted campaign.</summary>
[Collection(NodeCollection.Name)]
public sealed class LiftCohortHaltRoleTests(NodeFixture fixture)
{
    [Fact]
    public async Task LiftCohortHalt_ReleaseManagerOrViewer_IsPermissionDenied_AnSreReachesTheCampaign()
    {
        var request = new LiftCohortHaltRequest { CampaignId = "lift-roles-none", Dimension = "hardware_revision", Value = "R3", Reason = "fixed" };

        var releaseManager = await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => fixture.Node.Admin.LiftCohortHaltAsync(request, EmbeddedNodeHost.Bearer(NodeFixture.ReleaseManagerKey)).ResponseAsync);
        var viewer = await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => fixture.Node.Admin.LiftCohortHaltAsync(request, EmbeddedNodeHost.Bearer(NodeFixture.ViewerKey)).ResponseAsync);
        var sre = await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => fixture.Node.Admin.LiftCohortHaltAsync(request, EmbeddedNodeHost.Bearer(NodeFixture.SreKey)).ResponseAsync);

        Assert.Contains("role 'release-manager'", releaseManager.Status.Detail);
        Assert.Contains("role 'viewer'", viewer.Status.Detail);
        Assert.Equal("campaign 'lift-roles-none' does not exist", sre.Status.Detail);
    }
}
