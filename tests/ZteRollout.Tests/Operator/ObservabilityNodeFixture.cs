using Microsoft.Extensions.Time.Testing;
using ZteRollout.Gateway.Auth;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// An embedded node with what operators of a cluster turn on: the Orleans Dashboard on the operator listener and
/// trace propagation through Orleans; a viewer key beside the bootstrap admin key.
/// </summary>
public sealed class ObservabilityNodeFixture : IAsyncLifetime
{
    public const string ViewerKey = NodeFixture.ViewerKey;

    private readonly string _dataDirectory = TestPaths.NewTempDirectory("observability-node");

    public EmbeddedNodeHost Node { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Node = await EmbeddedNodeHost.StartAsync(_dataDirectory, new FakeTimeProvider(new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero)),
            "--Rollout:Operator:OrleansDashboard=true",
            "--Rollout:Telemetry:Tracing=true",
            "--Rollout:Gateway:ApiKeys:0:Name=viewer-bot",
            "--Rollout:Gateway:ApiKeys:0:Role=viewer",
            $"--Rollout:Gateway:ApiKeys:0:Sha256={Convert.ToHexStringLower(ApiKeyStore.Hash(ViewerKey))}");
    }

    public async Task DisposeAsync()
    {
        await Node.DisposeAsync();
        TestPaths.TryDelete(_dataDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class ObservabilityNodeCollection : ICollectionFixture<ObservabilityNodeFixture>
{
    public const string Name = "observability node";
}
