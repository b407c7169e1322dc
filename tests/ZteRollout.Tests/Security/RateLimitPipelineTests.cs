using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Admin.V1;
using ZteRollout.Gateway.Auth;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Security;

/// <summary>
/// The limits ASP.NET Core's rate limiting applies in the request pipeline: per source address before anything else,
/// per admin key after authentication; and reflection is not served unless asked for. One node of its own, with
/// loopback not exempt and limits refilled once an hour, so the count of calls decides, not the timing.
/// </summary>
public sealed class RateLimitPipelineTests : IAsyncLifetime
{
    private const string ViewerKey = "zak1_viewer-limits-test-key-000000000000000000000000000000000000000";
    private readonly string _dataDirectory = TestPaths.NewTempDirectory("limits");
    private EmbeddedNodeHost _node = null!;

    public async Task InitializeAsync()
    {
        _node = await EmbeddedNodeHost.StartAsync(_dataDirectory, new FakeTimeProvider(),
            "--Rollout:Gateway:RateLimits:ExemptLoopback=false",
            "--Rollout:Gateway:RateLimits:PerAddress:TokenLimit=6",
            "--Rollout:Gateway:RateLimits:PerAddress:TokensPerPeriod=1",
            "--Rollout:Gateway:RateLimits:PerAddress:ReplenishmentPeriod=01:00:00",
            "--Rollout:Gateway:RateLimits:PerAdminKey:TokenLimit=2",
            "--Rollout:Gateway:RateLimits:PerAdminKey:TokensPerPeriod=1",
            "--Rollout:Gateway:RateLimits:PerAdminKey:ReplenishmentPeriod=01:00:00",
            "--Rollout:Gateway:EnableReflection=false",
            "--Rollout:Gateway:ApiKeys:0:Name=viewer-bot",
            "--Rollout:Gateway:ApiKeys:0:Role=viewer",
            $"--Rollout:Gateway:ApiKeys:0:Sha256={Convert.ToHexStringLower(ApiKeyStore.Hash(ViewerKey))}");
    }

    public async Task DisposeAsync()
    {
        await _node.DisposeAsync();
        TestPaths.TryDelete(_dataDirectory);
    }

    [Fact]
    public async Task AnAdminKeyOverItsLimit_AndThenTheAddress_GetResourceExhaustedWithRetryAfter()
    {
        var health = new Health.HealthClient(_node.Channel);

        // Address calls 1-2: the local admin key's two permits.
        await _node.Admin.ListPackagesAsync(new ListPackagesRequest(), _node.AdminHeaders);
        await _node.Admin.ListPackagesAsync(new ListPackagesRequest(), _node.AdminHeaders);

        // 3: the key is over its limit (the address is not).
        var keyLimited = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted,
            () => _node.Admin.ListPackagesAsync(new ListPackagesRequest(), _node.AdminHeaders).ResponseAsync);

        // 4: another key is served; 5: reflection is not served by this node; 6: health.
        await _node.Admin.ListPackagesAsync(new ListPackagesRequest(), EmbeddedNodeHost.Bearer(ViewerKey));
        var reflection = new ServerReflection.ServerReflectionClient(_node.Channel);
        var noReflection = await RpcAssert.FailsAsync(StatusCode.Unimplemented, async () =>
        {
            using var call = reflection.ServerReflectionInfo();
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "*" });
            await call.RequestStream.CompleteAsync();
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
        await health.CheckAsync(new HealthCheckRequest());

        // 7: the address has used its six permits, whoever calls and with what.
        var addressLimited = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted, () => health.CheckAsync(new HealthCheckRequest()).ResponseAsync);

        Assert.Equal("too many calls with this admin key; retry after 3600 s", keyLimited.Status.Detail);
        Assert.Equal("3600", keyLimited.Trailers.GetValue("retry-after"));
        Assert.Equal(StatusCode.Unimplemented, noReflection.StatusCode);
        Assert.Equal("too many calls from this address; retry after 3600 s", addressLimited.Status.Detail);
        Assert.Equal("3600", addressLimited.Trailers.GetValue("retry-after"));
        Assert.Equal("3600000", addressLimited.Trailers.GetValue("grpc-retry-pushback-ms"));
    }
}
