using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using ZteRollout.Silo.Campaigns;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>
/// A two-silo cluster (SQLite) with its gateway whose silos carry fault injection: grain calls that fail or hang
/// (<see cref="Calls"/>) and state writes that fail or stall (<see cref="Storage"/>). Tests use their own ids and
/// clear the faults they set.
/// </summary>
public sealed class FaultClusterFixture : IAsyncLifetime
{
    private readonly string _dataDirectory = TestPaths.NewTempDirectory("fault-cluster");

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 9, 9, 0, 0, TimeSpan.Zero));

    public GrainCallFaults Calls { get; } = new();

    public StorageFaults Storage { get; } = new();

    public RolloutCluster System { get; private set; } = null!;

    public IGrainFactory Grains => System.Grains;

    public string DatabaseFile => Path.Combine(_dataDirectory, "cluster.db");

    public async Task InitializeAsync() =>
        System = await RolloutCluster.StartAsync(_dataDirectory, Clock, silos: 2, configureSilo: silo =>
        {
            Calls.Install(silo);
            Storage.Install(silo);
        });

    public async Task DisposeAsync()
    {
        Calls.Clear();
        Storage.Clear();
        await System.DisposeAsync();
        TestPaths.TryDelete(_dataDirectory);
    }

    public void ClearFaults()
    {
        Calls.Clear();
        Storage.Clear();
    }

    public static DeviceFacts Facts(string model, string version = "H1.0") =>
        new(model, "R1", "EU", "carrier", version, BootSlot.A, 90, 8L << 30, "agent-1");

    /// <summary>Creates and starts a campaign offering version H2.0 to every device of <paramref name="model"/>.</summary>
    public async Task StartCampaignAsync(string campaignId, string model, TimeSpan? timeout = null, Func<CampaignPlan, CampaignPlan>? shape = null)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(model)));
        var package = await Grains.GetGrain<IPackageCatalogGrain>(0).RegisterAsync(
            new PackageMetadata("H2.0", [model], PackageKind.Full, null, 0, 0, "notes"), 1000, sha);
        var plan = new CampaignPlan(campaignId, [new CampaignTarget(model, package.PackageId)],
            Eligibility.Everyone with { Models = [model] }, 0, timeout ?? TimeSpan.FromHours(1));
        await Grains.Campaign(campaignId).CreateAsync(shape?.Invoke(plan) ?? plan, "test");
        await Grains.Campaign(campaignId).StartAsync("test", "go");
    }

    public async Task RegisterAsync(IEnumerable<string> ids)
    {
        foreach (var chunk in ids.Chunk(1000))
        {
            await Task.WhenAll(chunk.Select(id => Grains.Device(id).RegisterAsync(DeviceIdentity.HashSecret("secret-" + id), [], rotate: false)));
        }
    }

    /// <summary>
    /// Registers <paramref name="count"/> new devices and checks each in once; returns how many got an offer and on
    /// how many silos the devices ran (so "no offer" covers every silo).
    /// </summary>
    public async Task<(int Offers, int Silos)> FreshCheckInsAsync(string prefix, string model, int count = 40)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"{prefix}-{i}").ToList();
        await RegisterAsync(ids);
        var results = await Task.WhenAll(ids.Select(id => Grains.Device(id).CheckInAsync(Facts(model))));
        var stats = await Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var silos = stats.Where(s => s.GrainId.ToString().Contains($"device/{prefix}-", StringComparison.Ordinal)).Select(s => s.SiloAddress).Distinct().Count();
        return (results.Count(r => r.Outcome == CheckInOutcome.Offer), silos);
    }

    /// <summary>Each silo's cached campaign snapshot.</summary>
    public IReadOnlyList<CampaignSnapshot?> SiloSnapshots() =>
        [.. System.Cluster.Silos.Select(s => s.SiloHost.Services.GetRequiredService<SnapshotCache>().Current)];

    /// <summary>Polls a condition on real time (for what runs on real time: snapshot polls, pushes); false when it never held.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan within)
    {
        var started = Stopwatch.StartNew();
        while (started.Elapsed < within)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(50);
        }

        return await condition();
    }
}

[CollectionDefinition(Name)]
public sealed class FaultClusterCollection : ICollectionFixture<FaultClusterFixture>
{
    public const string Name = "two-silo cluster with injected faults";
}
