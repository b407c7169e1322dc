using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Shared.Packages;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Gateway;

/// <summary>Check-in, download and report over real gRPC against a real embedded node.</summary>
[Collection(NodeCollection.Name)]
public sealed class DeviceFlowTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    /// <summary>A model with a FULL 2.0 and a DELTA 1.0 → 2.0, in a running campaign.</summary>
    private async Task<(Package Full, Package Delta, byte[] FullBytes, byte[] DeltaBytes)> CampaignAsync(string model, uint minBattery = 0, ulong requiredFree = 0)
    {
        var fullBytes = Scenario.RandomBytes(100_000, seed: model.GetHashCode(StringComparison.Ordinal));
        var deltaBytes = Scenario.RandomBytes(30_000, seed: model.Length);
        var full = await Scenario.UploadAsync(Node, Scenario.Full(model, "R2.0", minBattery, requiredFree), fullBytes);
        var delta = await Scenario.UploadAsync(Node, Scenario.Delta(model, "R1.0", "R2.0"), deltaBytes);
        await Scenario.StartCampaignAsync(Node, "c-" + model, model, full.PackageId);
        return (full, delta, fullBytes, deltaBytes);
    }

    [Fact]
    public async Task CheckIn_OnTheDeltasBase_GetsTheDelta_OtherwiseTheFull()
    {
        var (full, delta, _, _) = await CampaignAsync("FLOW-A");
        var tokens = await Scenario.RegisterAsync(Node, "flow-a-1", "flow-a-2");

        var onBase = await Scenario.CheckInAsync(Node, "flow-a-1", tokens["flow-a-1"], Scenario.Facts("FLOW-A", "R1.0"));
        var older = await Scenario.CheckInAsync(Node, "flow-a-2", tokens["flow-a-2"], Scenario.Facts("FLOW-A", "R0.9"));

        Assert.Equal(delta.PackageId, onBase.Offer.PackageId);
        Assert.Equal(30_000UL, onBase.Offer.DownloadSize);
        Assert.Equal(full.PackageId, older.Offer.PackageId);
        Assert.Equal(full.Manifest, older.Offer.Manifest);
        Assert.Equal(full.ManifestSignature, older.Offer.ManifestSignature);
        Assert.Equal("c-FLOW-A", older.Offer.CampaignId);
    }

    [Fact]
    public async Task CheckIn_AtOrAboveTheTarget_GetsNothing()
    {
        await CampaignAsync("FLOW-B");
        var tokens = await Scenario.RegisterAsync(Node, "flow-b-1", "flow-b-2", "flow-b-3");

        var same = await Scenario.CheckInAsync(Node, "flow-b-1", tokens["flow-b-1"], Scenario.Facts("FLOW-B", "R2.0"));
        var newer = await Scenario.CheckInAsync(Node, "flow-b-2", tokens["flow-b-2"], Scenario.Facts("FLOW-B", "R10.0"));
        var otherModel = await Scenario.CheckInAsync(Node, "flow-b-3", tokens["flow-b-3"], Scenario.Facts("FLOW-OTHER", "R1.0"));

        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, same.DecisionCase);
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, newer.DecisionCase);
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, otherModel.DecisionCase);
        Assert.Equal(300U, same.NextCheckInSeconds);
    }

    [Fact]
    public async Task CheckIn_LowBatteryOrStorage_IsDeferredWithTheReason_AndCountedOnce()
    {
        await CampaignAsync("FLOW-C", minBattery: 30, requiredFree: 3UL << 30);
        var tokens = await Scenario.RegisterAsync(Node, "flow-c-1", "flow-c-2");

        var battery = await Scenario.CheckInAsync(Node, "flow-c-1", tokens["flow-c-1"], Scenario.Facts("FLOW-C", "R0.5", battery: 12));
        var storage = await Scenario.CheckInAsync(Node, "flow-c-2", tokens["flow-c-2"], Scenario.Facts("FLOW-C", "R0.5", freeBytes: 1UL << 30));
        await Scenario.CheckInAsync(Node, "flow-c-2", tokens["flow-c-2"], Scenario.Facts("FLOW-C", "R0.5", freeBytes: 1UL << 30));

        Assert.Equal(DeferralReason.BatteryLow, battery.Deferred.Reason);
        Assert.Equal("battery 12% < required 30%", battery.Deferred.Detail);
        Assert.Equal(DeferralReason.InsufficientStorage, storage.Deferred.Reason);
        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-FLOW-C" }, Node.AdminHeaders);
        Assert.Equal((2UL, 0UL), (campaign.Counts.Deferred, campaign.Counts.Offered));

        var charged = await Scenario.CheckInAsync(Node, "flow-c-1", tokens["flow-c-1"], Scenario.Facts("FLOW-C", "R0.5", battery: 90));
        Assert.Equal(CheckInResponse.DecisionOneofCase.Offer, charged.DecisionCase);
    }

    [Fact]
    public async Task CheckIn_WithAnOpenOffer_ReturnsThatSameOffer()
    {
        await CampaignAsync("FLOW-D");
        var tokens = await Scenario.RegisterAsync(Node, "flow-d-1");

        var first = await Scenario.CheckInAsync(Node, "flow-d-1", tokens["flow-d-1"], Scenario.Facts("FLOW-D", "R1.0"));
        var again = await Scenario.CheckInAsync(Node, "flow-d-1", tokens["flow-d-1"], Scenario.Facts("FLOW-D", "R1.0", battery: 55));

        Assert.Equal(first.Offer.OfferId, again.Offer.OfferId);
        Assert.Equal(first.Offer.PackageId, again.Offer.PackageId);
    }

    [Fact]
    public async Task Download_FromAnOffset_ResumesWithChunkOffsets_AndStopsAtTheManifestLength()
    {
        var (full, _, fullBytes, _) = await CampaignAsync("FLOW-E");
        var tokens = await Scenario.RegisterAsync(Node, "flow-e-1");
        var offer = (await Scenario.CheckInAsync(Node, "flow-e-1", tokens["flow-e-1"], Scenario.Facts("FLOW-E", "R0.1"))).Offer;

        var whole = await Scenario.DownloadAsync(Node, "flow-e-1", tokens["flow-e-1"], offer.OfferId);
        var rest = await Scenario.DownloadAsync(Node, "flow-e-1", tokens["flow-e-1"], offer.OfferId, offset: 40_000);
        var atEnd = await Scenario.DownloadAsync(Node, "flow-e-1", tokens["flow-e-1"], offer.OfferId, offset: 100_000);

        Assert.Equal(fullBytes, whole.Bytes);
        Assert.Equal(full.Sha256, Scenario.Sha256Hex(whole.Bytes));
        Assert.Equal(new ulong[] { 0, 16384, 32768, 49152, 65536, 81920, 98304 }, whole.Offsets);
        Assert.Equal(fullBytes[40_000..], rest.Bytes);
        Assert.Equal(40_000UL, rest.Offsets[0]);
        Assert.Empty(atEnd.Bytes);
    }

    [Fact]
    public async Task Download_PastTheEnd_IsOutOfRange()
    {
        await CampaignAsync("FLOW-F");
        var tokens = await Scenario.RegisterAsync(Node, "flow-f-1");
        var offer = (await Scenario.CheckInAsync(Node, "flow-f-1", tokens["flow-f-1"], Scenario.Facts("FLOW-F", "R0.1"))).Offer;

        var e = await RpcAssert.FailsAsync(StatusCode.OutOfRange,
            () => Scenario.DownloadAsync(Node, "flow-f-1", tokens["flow-f-1"], offer.OfferId, offset: 100_001));

        Assert.Contains("100001", e.Status.Detail);
    }

    [Fact]
    public async Task Download_OfAnotherDevicesOffer_IsPermissionDenied()
    {
        await CampaignAsync("FLOW-G");
        var tokens = await Scenario.RegisterAsync(Node, "flow-g-1", "flow-g-2");
        var offer = (await Scenario.CheckInAsync(Node, "flow-g-1", tokens["flow-g-1"], Scenario.Facts("FLOW-G", "R0.1"))).Offer;

        await RpcAssert.FailsAsync(StatusCode.PermissionDenied,
            () => Scenario.DownloadAsync(Node, "flow-g-2", tokens["flow-g-2"], offer.OfferId));
    }

    [Fact]
    public async Task Report_TheWholeLifecycle_MovesTheDeviceToTheNewVersionAndSlot_AndCountsOneSuccess()
    {
        await CampaignAsync("FLOW-H");
        var tokens = await Scenario.RegisterAsync(Node, "flow-h-1");
        var token = tokens["flow-h-1"];
        var offer = (await Scenario.CheckInAsync(Node, "flow-h-1", token, Scenario.Facts("FLOW-H", "R1.0"))).Offer;

        var statuses = new List<OfferStatus>();
        foreach (var step in new[] { InstallStep.Downloading, InstallStep.Downloaded, InstallStep.Verified, InstallStep.Installing, InstallStep.Installed })
        {
            statuses.Add((await Scenario.ReportAsync(Node, "flow-h-1", token, offer.OfferId, step)).Status);
        }

        statuses.Add((await Scenario.ReportAsync(Node, "flow-h-1", token, offer.OfferId, InstallStep.Succeeded, runningVersion: "R2.0")).Status);

        Assert.Equal(
            new[] { OfferStatus.Downloading, OfferStatus.Downloaded, OfferStatus.Verified, OfferStatus.Installing, OfferStatus.Installed, OfferStatus.Succeeded },
            statuses);
        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "flow-h-1" }, Node.AdminHeaders);
        Assert.Equal(("R2.0", Slot.B, OfferStatus.Succeeded), (device.CurrentVersion, device.ActiveSlot, device.CurrentOffer.Status));
        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-FLOW-H" }, Node.AdminHeaders);
        Assert.Equal((1UL, 1UL, 0UL), (campaign.Counts.Offered, campaign.Counts.Succeeded, campaign.Counts.InProgress));

        var after = await Scenario.CheckInAsync(Node, "flow-h-1", token, Scenario.Facts("FLOW-H", "R2.0"));
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, after.DecisionCase);
    }

    [Fact]
    public async Task Report_RepeatedReportId_IsAcknowledgedAgainWithoutEffect()
    {
        await CampaignAsync("FLOW-I");
        var tokens = await Scenario.RegisterAsync(Node, "flow-i-1");
        var token = tokens["flow-i-1"];
        var offer = (await Scenario.CheckInAsync(Node, "flow-i-1", token, Scenario.Facts("FLOW-I", "R1.0"))).Offer;
        await Scenario.ReportAsync(Node, "flow-i-1", token, offer.OfferId, InstallStep.Installed);

        var failed = await Scenario.ReportAsync(Node, "flow-i-1", token, offer.OfferId, InstallStep.Failed, reportId: "r-fail", errorCode: "E_DISK");
        var repeat = await Scenario.ReportAsync(Node, "flow-i-1", token, offer.OfferId, InstallStep.Failed, reportId: "r-fail", errorCode: "E_DISK");

        Assert.Equal((OfferStatus.Failed, false), (failed.Status, failed.Duplicate));
        Assert.Equal((OfferStatus.Failed, true), (repeat.Status, repeat.Duplicate));
        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-FLOW-I" }, Node.AdminHeaders);
        Assert.Equal((1UL, 1UL), (campaign.Counts.Offered, campaign.Counts.Failed));
        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "flow-i-1" }, Node.AdminHeaders);
        Assert.Equal(("R1.0", "E_DISK"), (device.CurrentVersion, device.CurrentOffer.ErrorCode));
    }

    [Fact]
    public async Task Report_OutOfOrder_IsFailedPreconditionNamingTheCurrentState()
    {
        await CampaignAsync("FLOW-J");
        var tokens = await Scenario.RegisterAsync(Node, "flow-j-1");
        var token = tokens["flow-j-1"];
        var offer = (await Scenario.CheckInAsync(Node, "flow-j-1", token, Scenario.Facts("FLOW-J", "R1.0"))).Offer;
        await Scenario.ReportAsync(Node, "flow-j-1", token, offer.OfferId, InstallStep.Downloading);

        var early = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Scenario.ReportAsync(Node, "flow-j-1", token, offer.OfferId, InstallStep.Succeeded, runningVersion: "R2.0"));
        await Scenario.ReportAsync(Node, "flow-j-1", token, offer.OfferId, InstallStep.Verified);
        var backwards = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition,
            () => Scenario.ReportAsync(Node, "flow-j-1", token, offer.OfferId, InstallStep.Downloaded));

        Assert.Contains("is DOWNLOADING", early.Status.Detail);
        Assert.Contains("is VERIFIED", backwards.Status.Detail);
        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "flow-j-1" }, Node.AdminHeaders);
        Assert.Equal(OfferStatus.Verified, device.CurrentOffer.Status);
    }

    [Fact]
    public async Task Report_ForAnUnknownOffer_IsNotFound()
    {
        await CampaignAsync("FLOW-K");
        var tokens = await Scenario.RegisterAsync(Node, "flow-k-1");

        var e = await RpcAssert.FailsAsync(StatusCode.NotFound,
            () => Scenario.ReportAsync(Node, "flow-k-1", tokens["flow-k-1"], "of-404", InstallStep.Downloading));

        Assert.Contains("of-404", e.Status.Detail);
    }

    [Fact]
    public async Task Offer_PastItsDeadline_TimesOutAtTheNextCheckIn_AndCountsAsTimedOut()
    {
        await CampaignAsync("FLOW-L");
        var tokens = await Scenario.RegisterAsync(Node, "flow-l-1");
        var token = tokens["flow-l-1"];
        var offer = (await Scenario.CheckInAsync(Node, "flow-l-1", token, Scenario.Facts("FLOW-L", "R1.0"))).Offer;

        fixture.Clock.Advance(TimeSpan.FromHours(2));
        var download = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, () => Scenario.DownloadAsync(Node, "flow-l-1", token, offer.OfferId));
        var next = await Scenario.CheckInAsync(Node, "flow-l-1", token, Scenario.Facts("FLOW-L", "R1.0"));

        Assert.Contains("deadline", download.Status.Detail);
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, next.DecisionCase);
        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "c-FLOW-L" }, Node.AdminHeaders);
        Assert.Equal((1UL, 1UL), (campaign.Counts.Offered, campaign.Counts.TimedOut));
        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "flow-l-1" }, Node.AdminHeaders);
        Assert.Equal(OfferStatus.TimedOut, device.CurrentOffer.Status);
    }
}
