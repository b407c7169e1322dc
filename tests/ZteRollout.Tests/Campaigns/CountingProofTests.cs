using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Campaigns;

/// <summary>
/// An outcome is counted only once it is stored, and what a campaign shows comes from stored outcomes (issue 8,
/// defect 4, on the design where a device stores its ledger row with its state and the stats shard is a view of those
/// rows): a device write that stalls or fails leaves the shard and the campaign unchanged and is not acknowledged.
/// </summary>
[Collection(FaultClusterCollection.Name)]
public sealed class CountingProofTests(FaultClusterFixture fixture) : IDisposable
{
    private IGrainFactory Grains => fixture.Grains;

    public void Dispose() => fixture.ClearFaults();

    private async Task<(IDeviceGrain Device, string OfferId, ICampaignStatsGrain Shard)> InstalledDeviceAsync(string campaignId, string model, string deviceId)
    {
        await fixture.StartCampaignAsync(campaignId, model);
        await fixture.RegisterAsync([deviceId]);
        var device = Grains.Device(deviceId);
        var offer = (await device.CheckInAsync(FaultClusterFixture.Facts(model))).Offer!;
        await device.ReportAsync(new DeviceReport(offer.OfferId, "r-installed", OfferStatus.Installed, 0, null, null, null, BootSlot.Unspecified));
        var shard = Grains.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(campaignId, StatsSharding.ShardOf(deviceId)));
        return (device, offer.OfferId, shard);
    }

    private static DeviceReport Succeeded(string offerId) => new(offerId, "r-succeeded", OfferStatus.Succeeded, 0, null, null, "H2.0", BootSlot.B);

    private static bool IsDevice(GrainId id, string deviceId) => id.ToString().EndsWith("device/" + deviceId, StringComparison.Ordinal);

    [Fact]
    public async Task Report_WhoseWriteStalls_IsNeitherAcknowledgedNorCounted_UntilItIsStored()
    {
        var (device, offerId, shard) = await InstalledDeviceAsync("cp-stall", "CP-STALL", "cp-stall-1");
        var before = await shard.GetCountsAsync();
        var stall = fixture.Storage.HoldWrites("device", id => IsDevice(id, "cp-stall-1"));

        var report = device.ReportAsync(Succeeded(offerId));
        var writing = await FaultClusterFixture.EventuallyAsync(() => Task.FromResult(stall.Caught == 1), TimeSpan.FromSeconds(10));
        var shardDuring = await shard.GetCountsAsync();
        var campaignDuring = await Grains.Campaign("cp-stall").GetAsync();
        var ackedDuring = report.IsCompleted;
        stall.Release();
        var ack = await report;
        var after = await shard.GetCountsAsync();

        Assert.True(writing, "the write never started");
        Assert.False(ackedDuring, "the report was acknowledged before its write was stored");
        Assert.Equal((1L, 0L), (before.InProgress + before.Installed, before.Succeeded));
        Assert.Equal(before, shardDuring);
        Assert.Equal(0L, campaignDuring.Counts.Succeeded);
        Assert.Equal((OfferStatus.Succeeded, false), (ack.Status, ack.Duplicate));
        Assert.Equal(1L, after.Succeeded);
    }

    [Fact]
    public async Task Report_WhoseWriteFails_IsNotCounted_AndItsRetryIsCountedOnce()
    {
        var (device, offerId, shard) = await InstalledDeviceAsync("cp-fail", "CP-FAIL", "cp-fail-1");
        var before = await shard.GetCountsAsync();
        fixture.Storage.FailWrites("device", times: 1, id => IsDevice(id, "cp-fail-1"));

        var failed = await Record.ExceptionAsync(() => device.ReportAsync(Succeeded(offerId)));
        var shardAfterFailure = await shard.GetCountsAsync();
        var campaignAfterFailure = await Grains.Campaign("cp-fail").GetAsync();
        var retried = await device.ReportAsync(Succeeded(offerId));
        var duplicate = await device.ReportAsync(Succeeded(offerId));
        var after = await shard.GetCountsAsync();
        var campaign = await Grains.Campaign("cp-fail").GetAsync();

        Assert.NotNull(failed);
        Assert.Equal(before, shardAfterFailure);
        Assert.Equal(0L, campaignAfterFailure.Counts.Succeeded);
        Assert.Equal((false, true), (retried.Duplicate, duplicate.Duplicate));
        Assert.Equal((1L, 0L, 1L), (after.Succeeded, after.InProgress + after.Installed, after.Offered));
        Assert.Equal((1L, 1L), (campaign.Counts.Succeeded, campaign.CompletedAttempts));
    }
}
