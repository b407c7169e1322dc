using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>One two-silo cluster with its gateway for a collection of tests; tests use their own ids so they do not meet.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly string _dataDirectory = TestPaths.NewTempDirectory("cluster");

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 3, 10, 0, 0, TimeSpan.Zero));

    public RolloutCluster System { get; private set; } = null!;

    public InProcessTestCluster Cluster => System.Cluster;

    public IGrainFactory Grains => System.Grains;

    public async Task InitializeAsync() => System = await RolloutCluster.StartAsync(_dataDirectory, Clock);

    public async Task DisposeAsync()
    {
        await System.DisposeAsync();
        TestPaths.TryDelete(_dataDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "two-silo cluster";
}
