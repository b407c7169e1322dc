using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Gateway;

/// <summary>
/// ExplainDevice (issue 9, point 6): why a campaign does or does not offer one device now, judged by the code the
/// check-in runs, so what it says is what the next check-in does. A viewer may ask.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class ExplainDeviceTests(NodeFixture fixture)
{
    private const string CampaignId = "explain-a";

    private EmbeddedNodeHost Node => fixture.Node;

    private static Metadata Viewer => EmbeddedNodeHost.Bearer(NodeFixture.ViewerKey);

    /// <summary>The explanation, and this test's campaign's line in it (null when the snapshot does not hold it).</summary>
    private async Task<(CampaignDecision? Decision, DeviceExplanation Whole)> ExplainAsync(string deviceId)
    {
        var explanation = await Node.Admin.ExplainDeviceAsync(new GetDeviceRequest { DeviceId = deviceId }, Viewer);
        return (explanation.Campaigns.SingleOrDefault(c => c.CampaignId == CampaignId), explanation);
    }

    [Fact]
    public async Task ExplainDevice_EachReasonTheCheckInActsOn_IsNamedWithItsFigures_AndTheCheckInAgrees()
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full("EXPL-A", "X2.0"), [9, 9, 9]);
        var plan = new CampaignPlan
        {
            Name = "explained",
            Targets = { new CampaignTarget { Model = "EXPL-A", PackageId = package.PackageId } },
            Eligibility = new Eligibility { Models = { "EXPL-A" }, Regions = { "EU" } },
            Retry = new RetryPolicy { MaxAttempts = 2, BackoffSeconds = 600, RetryableErrorCodes = { "E_FLAKY" } },
        };
        await Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = CampaignId, Plan = plan }, Node.AdminHeaders);
        await Node.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = CampaignId, Reason = "explain" }, Node.AdminHeaders);
        var tokens = await Scenario.RegisterAsync(Node, "expl-eu", "expl-us", "expl-new");
        var eu = Scenario.Facts("EXPL-A", "X1.0");
        var us = Scenario.Facts("EXPL-A", "X1.0");
        us.Region = "US";

        var (_, neverCheckedIn) = await ExplainAsync("expl-new");
        await Scenario.CheckInAsync(Node, "expl-us", tokens["expl-us"], us);
        var (outsider, _) = await ExplainAsync("expl-us");
        var usCheckIn = await Scenario.CheckInAsync(Node, "expl-us", tokens["expl-us"], us);

        var offered = await Scenario.CheckInAsync(Node, "expl-eu", tokens["expl-eu"], eu);
        var (_, holding) = await ExplainAsync("expl-eu");
        await Scenario.ReportAsync(Node, "expl-eu", tokens["expl-eu"], offered.Offer.OfferId, InstallStep.Failed, errorCode: "E_FLAKY");
        var (backingOff, afterFailure) = await ExplainAsync("expl-eu");
        var duringBackoff = await Scenario.CheckInAsync(Node, "expl-eu", tokens["expl-eu"], eu);
        fixture.Clock.Advance(TimeSpan.FromMinutes(11));
        var (retryDue, _) = await ExplainAsync("expl-eu");
        var retried = await Scenario.CheckInAsync(Node, "expl-eu", tokens["expl-eu"], eu);
        await Scenario.ReportAsync(Node, "expl-eu", tokens["expl-eu"], retried.Offer.OfferId, InstallStep.Failed, errorCode: "E_FLAKY");
        var (spent, _) = await ExplainAsync("expl-eu");
        await Node.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = CampaignId, Reason = "explain halt" }, Node.AdminHeaders);
        await Scenario.CheckInAsync(Node, "expl-new", tokens["expl-new"], eu);
        var (halted, _) = await ExplainAsync("expl-new");
        var badId = await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => Node.Admin.ExplainDeviceAsync(new GetDeviceRequest { DeviceId = "no spaces allowed" }, Viewer).ResponseAsync);
        var unknown = await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => Node.Admin.ExplainDeviceAsync(new GetDeviceRequest { DeviceId = "expl-unregistered" }, Viewer).ResponseAsync);

        Assert.StartsWith("never checked in", neverCheckedIn.Summary);
        Assert.Equal(("NOT_ELIGIBLE", "region 'US' is not in [EU]", 0U), (outsider!.Verdict, outsider.Detail, outsider.Stage));
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, usCheckIn.DecisionCase);
        Assert.StartsWith($"holds open offer '{offered.Offer.OfferId}' of campaign '{CampaignId}' (OFFERED", holding.Summary);
        Assert.Equal("RETRY_HELD", backingOff!.Verdict);
        Assert.StartsWith("retry backoff until ", backingOff.Detail);
        Assert.EndsWith("(attempt 2 of 2)", backingOff.Detail);
        Assert.StartsWith("no campaign offers it anything now", afterFailure.Summary);
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, duringBackoff.DecisionCase);
        Assert.Equal(("OFFER", 1U), (retryDue!.Verdict, retryDue.Stage));
        Assert.StartsWith($"package '{package.PackageId}' (X2.0); bucket ", retryDue.Detail);
        Assert.Equal(CheckInResponse.DecisionOneofCase.Offer, retried.DecisionCase);
        Assert.Equal(("RETRY_HELD", "retry budget spent: 2 of 2 attempts used"), (spent!.Verdict, spent.Detail));
        Assert.Equal("HALTED", halted!.Verdict);
        Assert.StartsWith("campaign is halted: no new offers", halted.Detail);
        Assert.Equal(["device_id"], RpcAssert.Fields(badId));
        Assert.Contains("expl-unregistered", unknown.Status.Detail);
    }
}
