using System.Net;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Ddi;

/// <summary>gRPC and DDI devices in one campaign: one engine, one set of counts, one halt.</summary>
[Collection(NodeCollection.Name)]
public sealed class DdiMixedFleetTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    [Fact]
    public async Task MixedFleet_CountsSeeBothKinds_AndAHaltStopsNewOffersToBoth()
    {
        const string Model = "DDI-MIX";
        var metadata = Scenario.Full(Model, "R2.0");
        metadata.Filename = "image.swu";
        var package = await Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(4096, seed: 77));
        await Scenario.StartCampaignAsync(Node, "c-" + Model, Model, package.PackageId);
        var tokens = await Scenario.RegisterAsync(Node, "mix-grpc-1", "mix-grpc-2", "mix-ddi-1", "mix-ddi-2", "mix-ddi-3", "mix-grpc-3", "mix-ddi-4");

        // A gRPC device succeeds through the reference path.
        var grpcOffer = (await Scenario.CheckInAsync(Node, "mix-grpc-1", tokens["mix-grpc-1"], Scenario.Facts(Model, "R1.0"))).Offer;
        await Scenario.ReportAsync(Node, "mix-grpc-1", tokens["mix-grpc-1"], grpcOffer.OfferId, InstallStep.Installed);
        await Scenario.ReportAsync(Node, "mix-grpc-1", tokens["mix-grpc-1"], grpcOffer.OfferId, InstallStep.Succeeded, runningVersion: "R2.0");

        // A gRPC device fails.
        var grpcFailing = (await Scenario.CheckInAsync(Node, "mix-grpc-2", tokens["mix-grpc-2"], Scenario.Facts(Model, "R1.0"))).Offer;
        await Scenario.ReportAsync(Node, "mix-grpc-2", tokens["mix-grpc-2"], grpcFailing.OfferId, InstallStep.Failed, errorCode: "E_VERIFY");

        // A DDI device succeeds, another fails.
        var succeeding = await DdiOfferAsync("mix-ddi-1", tokens["mix-ddi-1"], Model);
        Assert.Equal(HttpStatusCode.OK, (await succeeding.Client.FeedbackAsync(succeeding.ActionId, "proceeding", "none", "All Chunks Installed.")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await succeeding.Client.FeedbackAsync(succeeding.ActionId, "closed", "success", "Update Installed.")).StatusCode);
        var failing = await DdiOfferAsync("mix-ddi-2", tokens["mix-ddi-2"], Model);
        Assert.Equal(HttpStatusCode.OK, (await failing.Client.FeedbackAsync(failing.ActionId, "closed", "failure", "E_VERIFY bad signature")).StatusCode);

        // One of each holds an offer it has not started when the campaign halts.
        var pending = await DdiOfferAsync("mix-ddi-3", tokens["mix-ddi-3"], Model);
        var grpcPending = (await Scenario.CheckInAsync(Node, "mix-grpc-3", tokens["mix-grpc-3"], Scenario.Facts(Model, "R1.0"))).Offer;
        var before = (await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-" + Model }, Node.AdminHeaders)).Counts;
        await Node.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = "c-" + Model, Reason = "mixed halt" }, Node.AdminHeaders);

        var ddiAfterHalt = await pending.Client.PollAsync();
        var grpcAfterHalt = await Scenario.CheckInAsync(Node, "mix-grpc-3", tokens["mix-grpc-3"], Scenario.Facts(Model, "R1.0"));
        using var newcomer = new DdiClient(Node.DdiAddress!, "mix-ddi-4", tokens["mix-ddi-4"]);
        using var put = await newcomer.PutConfigDataAsync($$"""{"model":"{{Model}}","version":"R1.0"}""");
        var newcomerRoot = await newcomer.PollAsync();

        Assert.Equal((2UL, 2UL, 6UL), (before.Succeeded, before.Failed, before.Offered));
        Assert.Equal("E_VERIFY", (await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "mix-ddi-2" }, Node.AdminHeaders)).CurrentOffer.ErrorCode);
        Assert.Null(DdiClient.Link(ddiAfterHalt, "deploymentBase"));
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, grpcAfterHalt.DecisionCase);
        Assert.Null(DdiClient.Link(newcomerRoot, "deploymentBase"));
        Assert.NotNull(grpcPending);
        var after = (await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-" + Model }, Node.AdminHeaders)).Counts;
        Assert.Equal((2UL, 2UL, 2UL), (after.Succeeded, after.Failed, after.Canceled));
    }

    private async Task<(DdiClient Client, int ActionId)> DdiOfferAsync(string deviceId, string token, string model)
    {
        var client = new DdiClient(Node.DdiAddress!, deviceId, token);
        using var put = await client.PutConfigDataAsync($$"""{"model":"{{model}}","version":"R1.0","slot":"A"}""");
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var href = DdiClient.Link(await client.PollAsync(), "deploymentBase")!;
        return (client, int.Parse(href[(href.LastIndexOf('/') + 1)..]));
    }
}
