using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using ZteRollout.Silo;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Grains;

/// <summary>
/// A device's outcome reaches its campaign's stats shard after the device stored it. When that delivery fails, the
/// device's timer retries it; when it never arrives, the shard counts the stored ledger row on its periodic re-read.
/// Either way the outcome is counted exactly once.
/// </summary>
[Collection(OutboxFaultCollection.Name)]
public sealed class OutboxRetryTests(OutboxFaultFixture fixture)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private IGrainFactory Grains => fixture.Grains;

    private static DeviceFacts Facts(string model) => new(model, "R1", "EU", "carrier", "O1.0", BootSlot.A, 90, 8L << 30, "agent-1");

    /// <summary>A running campaign of one model and a device holding its offer (that delivery went through).</summary>
    private async Task<(IDeviceGrain Device, OfferRecord Offer, ICampaignStatsGrain Shard)> OfferedDeviceAsync(string campaignId, string model, string deviceId)
    {
        var package = await Grains.GetGrain<IPackageCatalogGrain>(0).RegisterAsync(
            new PackageMetadata("O2.0", [model], PackageKind.Full, null, 0, 0, "notes"), 1000, Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(model.PadRight(32, '-'))));
        var plan = new CampaignPlan(campaignId, [new CampaignTarget(model, package.PackageId)], Eligibility.Everyone with { Models = [model] }, 0, TimeSpan.FromHours(1));
        await Grains.Campaign(campaignId).CreateAsync(plan, "test");
        await Grains.Campaign(campaignId).StartAsync("test", "go");
        var device = Grains.Device(deviceId);
        await device.RegisterAsync(DeviceIdentity.HashSecret("secret-" + deviceId), [], rotate: false);
        var offer = (await device.CheckInAsync(Facts(model))).Offer!;
        var shard = Grains.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(campaignId, StatsSharding.ShardOf(deviceId)));
        return (device, offer, shard);
    }

    private static DeviceReport Installed(OfferRecord offer) =>
        new(offer.OfferId, "r-installed", OfferStatus.Installed, 0, null, null, null, BootSlot.Unspecified);

    [Fact]
    public async Task Outbox_DeliveryToTheShardFails_TheDeviceRetriesIt_AndItIsCountedOnce()
    {
        var (device, offer, shard) = await OfferedDeviceAsync("outbox-retry", "OUT-R", "outbox-r-1");
        fixture.Faults.Refuse("outbox-retry");

        var ack = await device.ReportAsync(Installed(offer));
        var retried = fixture.Faults.NextDeliveryAsync("outbox-retry");
        fixture.Faults.Allow("outbox-retry");
        await retried.WaitAsync(Bound);
        var afterRetry = await shard.GetCountsAsync();
        var duplicate = await device.ReportAsync(Installed(offer));

        Assert.Equal((OfferStatus.Installed, false), (ack.Status, ack.Duplicate));
        Assert.True(fixture.Faults.Refused("outbox-retry") >= 1);
        Assert.Equal((1L, 1L, 0L), (afterRetry.Offered, afterRetry.Installed, afterRetry.InProgress));
        Assert.True(duplicate.Duplicate);
        Assert.Equal(afterRetry, await shard.GetCountsAsync());
    }

    [Fact]
    public async Task Outbox_DeliveryNeverArrives_TheShardCountsTheStoredLedgerRowOnItsReread_AndALateDeliveryChangesNothing()
    {
        var (device, offer, shard) = await OfferedDeviceAsync("outbox-heal", "OUT-H", "outbox-h-1");
        fixture.Faults.Refuse("outbox-heal");
        var healed = fixture.Faults.SummaryAsync("outbox-heal", s => s.PerStage.Sum(c => c.Installed) == 1);

        await device.ReportAsync(Installed(offer));
        await healed.WaitAsync(Bound);
        var afterReread = await shard.GetCountsAsync();
        var refusedSoFar = fixture.Faults.Refused("outbox-heal");
        var late = fixture.Faults.NextDeliveryAsync("outbox-heal");
        fixture.Faults.Allow("outbox-heal");
        await late.WaitAsync(Bound);
        var afterLateDelivery = await shard.GetCountsAsync();
        var campaign = await Grains.Campaign("outbox-heal").GetAsync();

        Assert.True(refusedSoFar >= 1);
        Assert.Equal((1L, 1L, 0L), (afterReread.Offered, afterReread.Installed, afterReread.InProgress));
        Assert.Equal(afterReread, afterLateDelivery);
        Assert.Equal((1L, 1L), (campaign.Counts.Offered, campaign.Counts.Installed));
    }
}

/// <summary>
/// Fault injection for stats deliveries: refuses the shards' <c>ApplyAsync</c> for chosen campaigns (as a dead or
/// unreachable silo would), and tells a test when a delivery or a shard summary it waits for went through.
/// </summary>
public sealed class ShardDeliveryFaults : IIncomingGrainCallFilter
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _refused = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _refusals = new(StringComparer.Ordinal);
    private readonly List<(string CampaignId, TaskCompletionSource Done)> _deliveries = [];
    private readonly List<(string CampaignId, Func<ShardSummary, bool> Match, TaskCompletionSource Done)> _summaries = [];

    public void Refuse(string campaignId)
    {
        lock (_gate)
        {
            _refused.Add(campaignId);
        }
    }

    public void Allow(string campaignId)
    {
        lock (_gate)
        {
            _refused.Remove(campaignId);
        }
    }

    public int Refused(string campaignId)
    {
        lock (_gate)
        {
            return _refusals.GetValueOrDefault(campaignId);
        }
    }

    /// <summary>Completes when a shard of the campaign next accepts a delivery of events.</summary>
    public Task NextDeliveryAsync(string campaignId)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _deliveries.Add((campaignId, done));
        }

        return done.Task;
    }

    /// <summary>Completes when a shard sends the campaign a summary that matches.</summary>
    public Task SummaryAsync(string campaignId, Func<ShardSummary, bool> match)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _summaries.Add((campaignId, match, done));
        }

        return done.Task;
    }

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.Grain is ICampaignStatsGrain && context.MethodName == nameof(ICampaignStatsGrain.ApplyAsync))
        {
            var key = context.TargetId.Key.ToString()!;
            var campaignId = key[..key.LastIndexOf('/')];
            lock (_gate)
            {
                if (_refused.Contains(campaignId))
                {
                    _refusals[campaignId] = _refusals.GetValueOrDefault(campaignId) + 1;
                    throw new InvalidOperationException($"injected: stats shard {key} is unreachable");
                }
            }

            await context.Invoke();
            Complete(_deliveries, d => d.CampaignId == campaignId, d => d.Done);
            return;
        }

        await context.Invoke();
        if (context.Grain is ICampaignGrain && context.MethodName == nameof(ICampaignGrain.OnShardSummaryAsync))
        {
            var campaignId = GrainKeys.CampaignIdOf(context.TargetId.Key.ToString()!);
            var summary = (ShardSummary)context.Request.GetArgument(0)!;
            Complete(_summaries, s => s.CampaignId == campaignId && s.Match(summary), s => s.Done);
        }
    }

    private void Complete<T>(List<T> waiting, Func<T, bool> matches, Func<T, TaskCompletionSource> done)
    {
        List<T> found;
        lock (_gate)
        {
            found = waiting.Where(matches).ToList();
            waiting.RemoveAll(found.Contains);
        }

        foreach (var item in found)
        {
            done(item).TrySetResult();
        }
    }
}

/// <summary>
/// A one-silo cluster whose stats deliveries can be refused: the device retries every 100 ms, the shards re-read
/// their ledger rows every 2 s (the production defaults are 5 s and 30 s).
/// </summary>
public sealed class OutboxFaultFixture : IAsyncLifetime
{
    private readonly string _dataDirectory = TestPaths.NewTempDirectory("outbox");

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 3, 10, 0, 0, TimeSpan.Zero));

    public ShardDeliveryFaults Faults { get; } = new();

    public RolloutCluster System { get; private set; } = null!;

    public IGrainFactory Grains => System.Grains;

    public async Task InitializeAsync() =>
        System = await RolloutCluster.StartAsync(_dataDirectory, Clock, silos: 1, configureSilo: silo =>
        {
            silo.Services.Configure<RolloutSiloOptions>(o =>
            {
                o.OutboxRetryInterval = TimeSpan.FromMilliseconds(100);
                o.StatsReconcileInterval = TimeSpan.FromSeconds(2);
            });
            silo.AddIncomingGrainCallFilter(Faults);
        });

    public async Task DisposeAsync()
    {
        await System.DisposeAsync();
        TestPaths.TryDelete(_dataDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class OutboxFaultCollection : ICollectionFixture<OutboxFaultFixture>
{
    public const string Name = "one-silo cluster with refused stats deliveries";
}
