using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Grains;

/// <summary>Grains on a two-silo TestingHost cluster with real SQLite storage.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterGrainTests(ClusterFixture fixture)
{
    private IGrainFactory Grains => fixture.Grains;

    private static DeviceFacts Facts(string model, string version) =>
        new(model, "R1", "EU", "carrier", version, BootSlot.A, 90, 8L << 30, "agent-1");

    private async Task<string> RunningCampaignAsync(string model, string version)
    {
        var catalog = Grains.GetGrain<IPackageCatalogGrain>(0);
        var package = await catalog.RegisterAsync(
            new PackageMetadata(version, [model], PackageKind.Full, null, 0, 0, "notes"), 1000, new string('c', 63) + model.Length % 10);
        var campaignId = "g-" + model;
        var plan = new CampaignPlan(campaignId, [new CampaignTarget(model, package.PackageId)],
            Eligibility.Everyone with { Models = [model] }, 0, TimeSpan.FromHours(1));
        await Grains.Campaign(campaignId).CreateAsync(plan, "test");
        await Grains.Campaign(campaignId).StartAsync("test", "go");
        return campaignId;
    }

    private async Task RegisterAsync(IEnumerable<string> ids) =>
        await Task.WhenAll(ids.Select(id => Grains.Device(id).RegisterAsync(DeviceIdentity.HashSecret("secret-" + id), [], rotate: false)));

    [Fact]
    public async Task StatsShard_DuplicateAndStaleEvents_CountEachDeviceOnceInItsLatestStatus()
    {
        var shard = Grains.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey("stats-only", 0));
        var cohort = new Cohort("M", "R1", "EU", "c", "1.0");
        OutcomeEvent E(string device, long seq, DeviceOutcome outcome) => new("stats-only", device, seq, outcome, null, cohort);

        await shard.ApplyAsync([E("d1", 1, DeviceOutcome.Offered), E("d2", 1, DeviceOutcome.Offered)]);
        await shard.ApplyAsync([E("d1", 3, DeviceOutcome.Succeeded)]);
        await shard.ApplyAsync([E("d1", 2, DeviceOutcome.InProgress), E("d1", 3, DeviceOutcome.Succeeded)]);
        await shard.ApplyAsync([E("d2", 2, DeviceOutcome.Failed), E("d2", 2, DeviceOutcome.Failed)]);

        Assert.Equal(new CampaignCounts(2, 0, 0, 1, 1, 0, 0, 0, 0), await shard.GetCountsAsync());
    }

    [Fact]
    public async Task StatsShard_ManyConcurrentCallers_AreAllCounted()
    {
        var key = StatsSharding.ShardKey("stats-concurrent", 1);
        var shard = Grains.GetGrain<ICampaignStatsGrain>(key);
        var cohort = new Cohort("M", "R1", "EU", "c", "1.0");

        await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            shard.ApplyAsync([new OutcomeEvent("stats-concurrent", $"d{i}", 1, DeviceOutcome.Succeeded, null, cohort)])));

        Assert.Equal(200, (await shard.GetCountsAsync()).Succeeded);
    }

    [Fact]
    public async Task Device_ConcurrentCheckIns_HoldOneOffer()
    {
        await RunningCampaignAsync("GR-ONE", "G2.0");
        await RegisterAsync(["gr-one-1"]);
        var device = Grains.Device("gr-one-1");

        var results = await Task.WhenAll(Enumerable.Range(0, 25).Select(_ => device.CheckInAsync(Facts("GR-ONE", "G1.0"))));

        Assert.All(results, r => Assert.Equal(CheckInOutcome.Offer, r.Outcome));
        Assert.Single(results.Select(r => r.Offer!.OfferId).Distinct());
        var view = await Grains.Campaign("g-GR-ONE").GetAsync();
        Assert.Equal(1, view.Counts.Offered);
    }

    [Fact]
    public async Task CampaignStart_ReachesDevicesOnEverySilo_AndCancelStopsNewOffers()
    {
        var ids = Enumerable.Range(0, 40).Select(i => $"gr-spread-{i}").ToList();
        await RegisterAsync(ids);
        var before = await Task.WhenAll(ids.Take(20).Select(id => Grains.Device(id).CheckInAsync(Facts("GR-SPREAD", "G1.0"))));

        var campaignId = await RunningCampaignAsync("GR-SPREAD", "G2.0");
        var during = await Task.WhenAll(ids.Take(20).Select(id => Grains.Device(id).CheckInAsync(Facts("GR-SPREAD", "G1.0"))));
        await Grains.Campaign(campaignId).CancelAsync("sre", "bad build");
        var after = await Task.WhenAll(ids.Skip(20).Select(id => Grains.Device(id).CheckInAsync(Facts("GR-SPREAD", "G1.0"))));

        Assert.All(before, r => Assert.Equal(CheckInOutcome.NoUpdate, r.Outcome));
        Assert.All(during, r => Assert.Equal(CheckInOutcome.Offer, r.Outcome));
        Assert.All(after, r => Assert.Equal(CheckInOutcome.NoUpdate, r.Outcome));

        // The devices were placed on both silos, so both silos' snapshot caches took part.
        var stats = await Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var hosts = stats.Where(s => s.GrainId.ToString().Contains("device/gr-spread-", StringComparison.Ordinal)).Select(s => s.SiloAddress).Distinct();
        Assert.Equal(2, hosts.Count());
    }

    [Fact]
    public async Task Report_SameReportTwice_CountsOnce_AndSurvivesDeactivation()
    {
        await RunningCampaignAsync("GR-DUP", "G2.0");
        await RegisterAsync(["gr-dup-1"]);
        var device = Grains.Device("gr-dup-1");
        var offer = (await device.CheckInAsync(Facts("GR-DUP", "G1.0"))).Offer!;
        var installed = new DeviceReport(offer.OfferId, "r-installed", OfferStatus.Installed, 0, null, null, null, BootSlot.Unspecified);
        var succeeded = new DeviceReport(offer.OfferId, "r-ok", OfferStatus.Succeeded, 0, null, null, "G2.0", BootSlot.B);

        await device.ReportAsync(installed);
        var first = await device.ReportAsync(succeeded);
        var again = await device.ReportAsync(succeeded);
        await Grains.GetGrain<Orleans.Runtime.IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var afterReload = await device.ReportAsync(succeeded);

        Assert.Equal((OfferStatus.Succeeded, false), (first.Status, first.Duplicate));
        Assert.True(again.Duplicate);
        Assert.True(afterReload.Duplicate);
        var view = await Grains.Campaign("g-GR-DUP").GetAsync();
        Assert.Equal((1, 1, 0), (view.Counts.Offered, view.Counts.Succeeded, view.Counts.InProgress));
        var deviceView = await device.GetViewAsync();
        Assert.Equal(("G2.0", BootSlot.B), (deviceView.CurrentVersion, deviceView.ActiveSlot));
    }

    [Fact]
    public async Task Halt_OnceAcknowledged_StopsNewOffersOnEverySilo()
    {
        var ids = Enumerable.Range(0, 40).Select(i => $"gr-halt-{i}").ToList();
        await RegisterAsync(ids);
        var campaignId = await RunningCampaignAsync("GR-HALT", "G2.0");
        var early = await Task.WhenAll(ids.Take(20).Select(id => Grains.Device(id).CheckInAsync(Facts("GR-HALT", "G1.0"))));

        await Grains.Campaign(campaignId).HaltAsync("oncall", "spike in E_BOOT");
        var afterHalt = await Task.WhenAll(ids.Skip(20).Select(id => Grains.Device(id).CheckInAsync(Facts("GR-HALT", "G1.0"))));

        // Both groups ran on both silos: every silo offered before the halt, and none after its ack.
        Assert.All(early, r => Assert.Equal(CheckInOutcome.Offer, r.Outcome));
        Assert.All(afterHalt, r => Assert.Equal(CheckInOutcome.NoUpdate, r.Outcome));
        Assert.Equal((2, 2), (await SilosHostingAsync(ids.Take(20)), await SilosHostingAsync(ids.Skip(20))));
        var view = await Grains.Campaign(campaignId).GetAsync();
        Assert.Equal((CampaignState.Halted, 20L), (view.State, view.Counts.Offered));
    }

    private async Task<int> SilosHostingAsync(IEnumerable<string> deviceIds)
    {
        var keys = deviceIds.Select(id => "device/" + id).ToHashSet(StringComparer.Ordinal);
        var stats = await Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return stats.Where(s => keys.Any(k => s.GrainId.ToString().EndsWith(k, StringComparison.Ordinal))).Select(s => s.SiloAddress).Distinct().Count();
    }
}
