using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using ZteRollout.Shared;
using ZteRollout.Silo;
using ZteRollout.Silo.Hosting;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>
/// A TestingHost cluster of two silos whose grain state and reminders go to one real SQLite file through the
/// Orleans ADO.NET providers, all reading one fake clock.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    // TestingHost builds silos from configurator types, so the per-fixture values reach them through statics;
    // one fixture of this kind runs at a time (one collection).
    private static string s_dataDirectory = string.Empty;
    private static FakeTimeProvider s_clock = new();

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 3, 10, 0, 0, TimeSpan.Zero));

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        s_dataDirectory = TestPaths.NewTempDirectory("cluster");
        s_clock = Clock;
        await Database.PrepareAsync(CancellationToken.None);
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) => ConfigureSilo(silo));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        TestPaths.TryDelete(s_dataDirectory);
    }

    private static RolloutDatabase Database => RolloutDatabase.SqliteFile(Path.Combine(s_dataDirectory, "cluster.db"));

    private static void ConfigureSilo(ISiloBuilder silo)
    {
        silo.AddZteRollout(Database);
        silo.Services.Configure<RolloutSiloOptions>(o => o.DataDirectory = s_dataDirectory);
        silo.Services.AddSingleton(new RolloutClock(s_clock));
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "two-silo cluster";
}

