using Microsoft.Extensions.Time.Testing;
using ZteRollout.Gateway.Auth;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// An embedded node with what operators of a cluster turn on: the Orleans Dashboard on the operator listener and
/// trace propagation through Orleans; a viewer key beside the bootstrap admin key, and a per-key rate limit that
/// refills once an hour (<see cref="AdminKeyTokens"/> calls per key: the tests on this node stay well under it with the
/// admin key, and drain the viewer's).
/// </summary>
public sealed class ObservabilityNodeFixture : IAsyncLifetime
{
    public const string ViewerKey = NodeFixture.ViewerKey;

    public const int AdminKeyTokens = 40;

    private readonly string _dataDirectory = TestPaths.NewTempDirectory("observability-node");

    public EmbeddedNodeHost Node { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Node = await EmbeddedNodeHost.StartAsync(_dataDirectory, new FakeTimeProvider(new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero)),
            "--Rollout:Operator:OrleansDashboard=true",
            "--Rollout:Telemetry:Tracing=true",
            $"--Rollout:Gateway:RateLimits:PerAdminKey:TokenLimit={AdminKeyTokens}",
            "--Rollout:Gateway:RateLimits:PerAdminKey:TokensPerPeriod=1",
            "--Rollout:Gateway:RateLimits:PerAdminKey:ReplenishmentPeriod=01:00:00",
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
