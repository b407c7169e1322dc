using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Grains;

/// <summary>
/// Issue 8, defects 6–8, over real gRPC against the two-silo cluster: an open offer follows what the device runs,
/// a success must prove itself, and a halt withdraws the offers whose download has not started.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DeviceSafetyTests(ClusterFixture fixture)
{
    private RolloutCluster Node => fixture.System;

    private static DeviceFacts Facts(string model, string version, Slot slot = Slot.A)
    {
        var facts = Scenario.Facts(model, version);
        facts.ActiveSlot = slot;
        return facts;
    }

    /// <summary>A running single-stage campaign of <paramref name="model"/> to FULL S2.0, optionally with a DELTA S1.0 → S2.0.</summary>
    private async Task<(Package Full, Package? Delta)> CampaignAsync(string campaignId, string model, int seed, bool withDelta = false)
    {
        var full = await Scenario.UploadAsync(Node, Scenario.Full(model, "S2.0"), Scenario.RandomBytes(8192, seed));
        var delta = withDelta ? await Scenario.UploadAsync(Node, Scenario.Delta(model, "S1.0", "S2.0"), Scenario.RandomBytes(2048, seed: 7)) : null;
        await Scenario.StartCampaignAsync(Node, campaignId, model, full.PackageId);
        return (full, delta);
    }

    private async Task<Offer> OfferAsync(string deviceId, string token, DeviceFacts facts)
    {
        var answer = await Scenario.CheckInAsync(Node, deviceId, token, facts);
        Assert.Equal(CheckInResponse.DecisionOneofCase.Offer, answer.DecisionCase);
        return answer.Offer;
    }

    private async Task ReportUpToInstalledAsync(string deviceId, string token, string offerId)
    {
        foreach (var step in new[] { InstallStep.Downloading, InstallStep.Downloaded, InstallStep.Verified, InstallStep.Installing, InstallStep.Installed })
        {
            await Scenario.ReportAsync(Node, deviceId, token, offerId, step);
        }
    }

    private Task<ReportResponse> ReportSucceededAsync(string deviceId, string token, string offerId, string runningVersion, Slot slot) =>
        Node.Devices.ReportAsync(new ReportRequest
        {
            DeviceId = deviceId,
            OfferId = offerId,
            ReportId = Guid.NewGuid().ToString("N"),
            Step = InstallStep.Succeeded,
            RunningVersion = runningVersion,
            ActiveSlot = slot,
        }, EmbeddedNodeHost.Bearer(token)).ResponseAsync;

    private async Task<CampaignCounts> CountsAsync(string campaignId) =>
        (await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = campaignId }, Node.AdminHeaders)).Counts;

    private async Task<ZteRollout.Admin.V1.Device> DeviceAsync(string deviceId) =>
        await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = deviceId }, Node.AdminHeaders);

    // Defect 6: the open offer is re-checked against the version the device reports at every check-in.

    [Fact]
    public async Task CheckIn_RunningTheTargetWithAnOpenOffer_CompletesItAsInferredSuccess_CountedOnce()
    {
        await CampaignAsync("safe-6a", "SAFE-6A", seed: 61);
        var token = (await Scenario.RegisterAsync(Node, "safe-6a-1"))["safe-6a-1"];
        var offer = await OfferAsync("safe-6a-1", token, Facts("SAFE-6A", "S1.0"));
        await ReportUpToInstalledAsync("safe-6a-1", token, offer.OfferId);

        // The device booted the new slot, but its SUCCEEDED report never arrived.
        var first = await Scenario.CheckInAsync(Node, "safe-6a-1", token, Facts("SAFE-6A", "S2.0", Slot.B));
        var second = await Scenario.CheckInAsync(Node, "safe-6a-1", token, Facts("SAFE-6A", "S2.0", Slot.B));
        var lateReport = await ReportSucceededAsync("safe-6a-1", token, offer.OfferId, "S2.0", Slot.B);

        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, first.DecisionCase);
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, second.DecisionCase);
        Assert.Equal((OfferStatus.Succeeded, true), (lateReport.Status, lateReport.Duplicate));
        var device = await DeviceAsync("safe-6a-1");
        Assert.Equal((offer.OfferId, OfferStatus.Succeeded, "SUCCEEDED_INFERRED"),
            (device.CurrentOffer.OfferId, device.CurrentOffer.Status, device.CurrentOffer.ErrorCode));
        Assert.Equal(("S2.0", Slot.B), (device.CurrentVersion, device.ActiveSlot));
        var counts = await CountsAsync("safe-6a");
        Assert.Equal((1UL, 1UL, 0UL, 0UL, 0UL), (counts.Offered, counts.Succeeded, counts.Installed, counts.InProgress, counts.Failed));
    }

    [Fact]
    public async Task CheckIn_FlashedAboveTheTargetWithAnOpenOffer_WithdrawsIt_NoDowngradeAndNoFailure()
    {
        await CampaignAsync("safe-6b", "SAFE-6B", seed: 62);
        var token = (await Scenario.RegisterAsync(Node, "safe-6b-1"))["safe-6b-1"];
        var offer = await OfferAsync("safe-6b-1", token, Facts("SAFE-6B", "S1.0"));

        // Flashed out of band to S3.0: the open S2.0 offer would now be a downgrade.
        var answer = await Scenario.CheckInAsync(Node, "safe-6b-1", token, Facts("SAFE-6B", "S3.0"));
        var download = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Scenario.DownloadAsync(Node, "safe-6b-1", token, offer.OfferId));

        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, answer.DecisionCase);
        Assert.Equal($"offer '{offer.OfferId}' is CANCELED; downloads need an open offer", download.Status.Detail);
        var device = await DeviceAsync("safe-6b-1");
        Assert.Equal((offer.OfferId, OfferStatus.Canceled, "WITHDRAWN_VERSION_CHANGED", "S3.0"),
            (device.CurrentOffer.OfferId, device.CurrentOffer.Status, device.CurrentOffer.ErrorCode, device.CurrentVersion));
        var counts = await CountsAsync("safe-6b");
        Assert.Equal((1UL, 1UL, 0UL, 0UL), (counts.Offered, counts.Canceled, counts.Failed, counts.Succeeded));
    }

    [Fact]
    public async Task CheckIn_OnAnotherOlderVersionWithAnOpenOffer_WithdrawsIt_AndOffersAfreshInTheSameCheckIn()
    {
        var (full, delta) = await CampaignAsync("safe-6c", "SAFE-6C", seed: 63, withDelta: true);
        var token = (await Scenario.RegisterAsync(Node, "safe-6c-1"))["safe-6c-1"];
        var deltaOffer = await OfferAsync("safe-6c-1", token, Facts("SAFE-6C", "S1.0"));

        // Moved to S1.5 out of band: the delta's base is gone, the FULL still applies.
        var answer = await Scenario.CheckInAsync(Node, "safe-6c-1", token, Facts("SAFE-6C", "S1.5"));

        Assert.Equal(delta!.PackageId, deltaOffer.PackageId);
        Assert.Equal(CheckInResponse.DecisionOneofCase.Offer, answer.DecisionCase);
        Assert.Equal(full.PackageId, answer.Offer.PackageId);
        Assert.NotEqual(deltaOffer.OfferId, answer.Offer.OfferId);
        var device = await DeviceAsync("safe-6c-1");
        Assert.Equal((answer.Offer.OfferId, OfferStatus.Offered), (device.CurrentOffer.OfferId, device.CurrentOffer.Status));
        Assert.Equal((deltaOffer.OfferId, OfferStatus.Canceled, "WITHDRAWN_VERSION_CHANGED"),
            (device.History[0].OfferId, device.History[0].Status, device.History[0].ErrorCode));
        var counts = await CountsAsync("safe-6c");
        Assert.Equal((1UL, 0UL, 0UL), (counts.Offered, counts.Canceled, counts.Failed));
    }

    // Defect 7: SUCCEEDED must prove itself — the target version running, from the other slot than at offer time.

    [Fact]
    public async Task Report_SucceededWithoutProof_IsInvalidArgumentNamingTheField_AndTheOfferStaysInstalled()
    {
        await CampaignAsync("safe-7a", "SAFE-7A", seed: 71);
        var token = (await Scenario.RegisterAsync(Node, "safe-7a-1"))["safe-7a-1"];
        var offer = await OfferAsync("safe-7a-1", token, Facts("SAFE-7A", "S1.0", Slot.A));
        await ReportUpToInstalledAsync("safe-7a-1", token, offer.OfferId);

        var noVersion = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => ReportSucceededAsync("safe-7a-1", token, offer.OfferId, "", Slot.B));
        var oldVersion = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => ReportSucceededAsync("safe-7a-1", token, offer.OfferId, "S1.0", Slot.B));
        var oldSlot = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => ReportSucceededAsync("safe-7a-1", token, offer.OfferId, "S2.0", Slot.A));
        var noSlot = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => ReportSucceededAsync("safe-7a-1", token, offer.OfferId, "S2.0", Slot.Unspecified));
        var stillInstalled = (await DeviceAsync("safe-7a-1")).CurrentOffer.Status;
        var proven = await ReportSucceededAsync("safe-7a-1", token, offer.OfferId, "S2.0", Slot.B);

        Assert.Equal(["running_version"], RpcAssert.Fields(noVersion));
        Assert.Equal(["running_version"], RpcAssert.Fields(oldVersion));
        Assert.Equal(["active_slot"], RpcAssert.Fields(oldSlot));
        Assert.Equal(["active_slot"], RpcAssert.Fields(noSlot));
        Assert.Equal(OfferStatus.Installed, stillInstalled);
        Assert.Equal((OfferStatus.Succeeded, false), (proven.Status, proven.Duplicate));
        var counts = await CountsAsync("safe-7a");
        Assert.Equal((1UL, 1UL, 0UL, 0UL), (counts.Offered, counts.Succeeded, counts.Installed, counts.Failed));
    }

    [Fact]
    public async Task Report_SucceededOfADeviceOfferedOnSlotB_NeedsSlotAActive()
    {
        await CampaignAsync("safe-7b", "SAFE-7B", seed: 72);
        var token = (await Scenario.RegisterAsync(Node, "safe-7b-1"))["safe-7b-1"];
        var offer = await OfferAsync("safe-7b-1", token, Facts("SAFE-7B", "S1.0", Slot.B));
        await ReportUpToInstalledAsync("safe-7b-1", token, offer.OfferId);

        var sameSlot = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => ReportSucceededAsync("safe-7b-1", token, offer.OfferId, "S2.0", Slot.B));
        var proven = await ReportSucceededAsync("safe-7b-1", token, offer.OfferId, "S2.0", Slot.A);

        Assert.Equal(["active_slot"], RpcAssert.Fields(sameSlot));
        Assert.Equal(OfferStatus.Succeeded, proven.Status);
        Assert.Equal(("S2.0", Slot.A), ((await DeviceAsync("safe-7b-1")).CurrentVersion, (await DeviceAsync("safe-7b-1")).ActiveSlot));
    }

    // Defect 8: a halt withdraws the offers whose download has not started; those under way finish and count.

    [Fact]
    public async Task Halt_WithdrawsOffersNotYetDownloading_AndLetsDownloadsUnderWayFinishAndCount()
    {
        var (full, _) = await CampaignAsync("safe-8", "SAFE-8", seed: 81);
        var ids = new[] { "safe-8-1", "safe-8-2", "safe-8-3", "safe-8-4" };
        var tokens = await Scenario.RegisterAsync(Node, ids);
        var offers = new Dictionary<string, Offer>();
        foreach (var id in ids)
        {
            offers[id] = await OfferAsync(id, tokens[id], Facts("SAFE-8", "S1.0"));
        }

        await Scenario.ReportAsync(Node, "safe-8-3", tokens["safe-8-3"], offers["safe-8-3"].OfferId, InstallStep.Downloading);
        await Node.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = "safe-8", Reason = "E_BOOT spike" }, Node.AdminHeaders);

        // 1 downloads without checking in again; 2 checks in first, then downloads; 4 reports that it starts downloading.
        var download1 = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Scenario.DownloadAsync(Node, "safe-8-1", tokens["safe-8-1"], offers["safe-8-1"].OfferId));
        var checkIn2 = await Scenario.CheckInAsync(Node, "safe-8-2", tokens["safe-8-2"], Facts("SAFE-8", "S1.0"));
        var download2 = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Scenario.DownloadAsync(Node, "safe-8-2", tokens["safe-8-2"], offers["safe-8-2"].OfferId));
        var report4 = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Scenario.ReportAsync(Node, "safe-8-4", tokens["safe-8-4"], offers["safe-8-4"].OfferId, InstallStep.Downloading));
        var checkIn1 = await Scenario.CheckInAsync(Node, "safe-8-1", tokens["safe-8-1"], Facts("SAFE-8", "S1.0"));

        // 3 was downloading before the halt: it keeps its offer, downloads, installs and succeeds.
        var checkIn3 = await Scenario.CheckInAsync(Node, "safe-8-3", tokens["safe-8-3"], Facts("SAFE-8", "S1.0"));
        var (bytes, _) = await Scenario.DownloadAsync(Node, "safe-8-3", tokens["safe-8-3"], offers["safe-8-3"].OfferId);
        await ReportUpToInstalledAsync("safe-8-3", tokens["safe-8-3"], offers["safe-8-3"].OfferId);
        var succeeded3 = await ReportSucceededAsync("safe-8-3", tokens["safe-8-3"], offers["safe-8-3"].OfferId, "S2.0", Slot.B);

        foreach (var (id, e) in new[] { ("safe-8-1", download1), ("safe-8-2", download2), ("safe-8-4", report4) })
        {
            Assert.Equal($"offer '{offers[id].OfferId}' was withdrawn before its download started: campaign 'safe-8' is halted", e.Status.Detail);
            var device = await DeviceAsync(id);
            Assert.Equal((OfferStatus.Canceled, "WITHDRAWN_CAMPAIGN_HALTED"), (device.CurrentOffer.Status, device.CurrentOffer.ErrorCode));
        }

        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, checkIn1.DecisionCase);
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, checkIn2.DecisionCase);
        Assert.Equal(offers["safe-8-3"].OfferId, checkIn3.Offer.OfferId);
        Assert.Equal(full.Size, (ulong)bytes.Length);
        Assert.Equal((OfferStatus.Succeeded, false), (succeeded3.Status, succeeded3.Duplicate));
        var counts = await CountsAsync("safe-8");
        Assert.Equal((4UL, 3UL, 1UL, 0UL, 0UL), (counts.Offered, counts.Canceled, counts.Succeeded, counts.Failed, counts.InProgress));

        // A withdrawal is not a failure: after the resume the withdrawn devices are offered again.
        await Node.Admin.ResumeCampaignAsync(new CampaignRequest { CampaignId = "safe-8", Reason = "fixed" }, Node.AdminHeaders);
        var afterResume = await Scenario.CheckInAsync(Node, "safe-8-1", tokens["safe-8-1"], Facts("SAFE-8", "S1.0"));
        Assert.Equal(CheckInResponse.DecisionOneofCase.Offer, afterResume.DecisionCase);
        Assert.NotEqual(offers["safe-8-1"].OfferId, afterResume.Offer.OfferId);
    }
}
