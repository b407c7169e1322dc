using Microsoft.Extensions.Time.Testing;
using ZteRollout.Gateway.Auth;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>One embedded node for a collection of gateway tests; tests use their own model names so they do not meet.</summary>
public sealed class NodeFixture : IAsyncLifetime
{
    public const long MaxPackageBytes = 2 * 1024 * 1024;
    public const string ViewerKey = "zak1_viewer-test-key-0000000000000000000000000000000000000000000000";
    public const string SreKey = "zak1_sre-test-key-000000000000000000000000000000000000000000000000000";
    public const string ReleaseManagerKey = "zak1_rm-test-key-0000000000000000000000000000000000000000000000000000";

    private readonly string _dataDirectory = TestPaths.NewTempDirectory("node");

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero));

    public EmbeddedNodeHost Node { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Node = await EmbeddedNodeHost.StartAsync(_dataDirectory, Clock,
            $"--Rollout:Gateway:MaxPackageBytes={MaxPackageBytes}",
            "--Rollout:Gateway:DownloadChunkBytes=16384",
            "--Rollout:Gateway:ApiKeys:0:Name=viewer-bot",
            "--Rollout:Gateway:ApiKeys:0:Role=viewer",
            $"--Rollout:Gateway:ApiKeys:0:Sha256={Convert.ToHexStringLower(ApiKeyStore.Hash(ViewerKey))}",
            "--Rollout:Gateway:ApiKeys:1:Name=oncall",
            "--Rollout:Gateway:ApiKeys:1:Role=sre",
            $"--Rollout:Gateway:ApiKeys:1:Sha256={Convert.ToHexStringLower(ApiKeyStore.Hash(SreKey))}",
            "--Rollout:Gateway:ApiKeys:2:Name=release-bot",
            "--Rollout:Gateway:ApiKeys:2:Role=release-manager",
            $"--Rollout:Gateway:ApiKeys:2:Sha256={Convert.ToHexStringLower(ApiKeyStore.Hash(ReleaseManagerKey))}");
    }

    public async Task DisposeAsync()
    {
        await Node.DisposeAsync();
        TestPaths.TryDelete(_dataDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class NodeCollection : ICollectionFixture<NodeFixture>
{
    public const string Name = "embedded node";
}
