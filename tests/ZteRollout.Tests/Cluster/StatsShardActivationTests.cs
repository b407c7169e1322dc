using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Cluster;

/// <summary>
/// A stats shard's activation can end while its campaign lives on: its silo is killed, or the silo holding its grain
/// directory entry is (Orleans then deactivates every activation registered there). The new activation rebuilds the
/// same view from the ledger rows; the campaign must take its summaries, although it still holds a summary the old
/// activation sent after many more changes. (The real-process form of this is <see cref="RealProcessFaultTests"/>.)
/// </summary>
[Collection(FaultClusterCollection.Name)]
public sealed class StatsShardActivationTests(FaultClusterFixture fixture)
{
    private IGrainFactory Grains => fixture.Grains;

    [Fact]
    public async Task Campaign_ShardActivationEndsAfterManyChanges_CountsWhatTheNewActivationCounts()
    {
        const string campaignId = "shard-again";
        const string model = "SHARD-AGAIN";
        await fixture.StartCampaignAsync(campaignId, model);
        var target = StatsSharding.ShardOf("shard-again-0");
        var ids = Enumerable.Range(0, 100_000).Select(i => $"shard-again-{i}").Where(id => StatsSharding.ShardOf(id) == target).Take(4).ToList();
        await fixture.RegisterAsync(ids);
        var shard = Grains.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(campaignId, target));
        foreach (var id in ids.Take(3))
        {
            await SucceedAsync(id);
        }

        var before = await Grains.Campaign(campaignId).GetAsync();

        // The shard's activation ends (as when its silo dies); the next event activates it again from the ledger.
        await Grains.GetGrain<IManagementGrain>(0).DeactivateGrain(shard.GetGrainId(), CancellationToken.None);
        await SucceedAsync(ids[3]);
        var shardAfter = await shard.GetCountsAsync();
        var after = await Grains.Campaign(campaignId).GetAsync();

        Assert.Equal((3L, 3L), (before.Counts.Offered, before.Counts.Succeeded));
        Assert.Equal((4L, 4L), (shardAfter.Offered, shardAfter.Succeeded));
        Assert.Equal((4L, 4L), (after.Counts.Offered, after.Counts.Succeeded));
    }

    /// <summary>Check-in (offer), INSTALLED, then a proven SUCCEEDED: three outcome events of the device.</summary>
    private async Task SucceedAsync(string deviceId)
    {
        var device = Grains.Device(deviceId);
        var offer = (await device.CheckInAsync(FaultClusterFixture.Facts("SHARD-AGAIN"))).Offer!;
        await device.ReportAsync(new DeviceReport(offer.OfferId, "r-installed", OfferStatus.Installed, 0, null, null, null, BootSlot.Unspecified));
        await device.ReportAsync(new DeviceReport(offer.OfferId, "r-succeeded", OfferStatus.Succeeded, 0, null, null, "H2.0", BootSlot.B));
    }
}
