using System.Collections.Concurrent;
using System.Diagnostics;
using ZteRollout.Shared.Telemetry;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// One check-in, traced: the gateway's request span, under it Orleans' grain call spans (activity propagation on),
/// under those our span of the device's durable state write.
/// </summary>
[Collection(ObservabilityNodeCollection.Name)]
public sealed class RolloutTracingTests : IDisposable
{
    private readonly ObservabilityNodeFixture _fixture;
    private readonly ConcurrentBag<Activity> _stopped = [];
    private readonly ActivityListener _listener = new()
    {
        ShouldListenTo = source => source.Name is "Microsoft.AspNetCore" or RolloutTracing.SourceName || RolloutTracing.OrleansSources.Contains(source.Name),
        Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
    };

    public RolloutTracingTests(ObservabilityNodeFixture fixture)
    {
        _fixture = fixture;
        _listener.ActivityStopped = _stopped.Add;
        ActivitySource.AddActivityListener(_listener);
    }

    private EmbeddedNodeHost Node => _fixture.Node;

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task CheckIn_YieldsAGatewaySpan_ParentOfGrainCallSpans_ParentOfTheStorageWriteSpan()
    {
        var package = await Scenario.UploadAsync(Node, Scenario.Full("TRACE-1", "R2.0"), Scenario.RandomBytes(4096, seed: 5));
        await Scenario.StartCampaignAsync(Node, "trace-c1", "TRACE-1", package.PackageId);
        var tokens = await Scenario.RegisterAsync(Node, "trace-dev-1");
        _stopped.Clear();

        var answer = await Scenario.CheckInAsync(Node, "trace-dev-1", tokens["trace-dev-1"], Scenario.Facts("TRACE-1", "R1.0"));
        Assert.False(string.IsNullOrEmpty(answer.Offer.OfferId));

        var spans = _stopped.ToArray();
        var write = Assert.Single(spans, s => s.Source.Name == RolloutTracing.SourceName
            && (s.GetTagItem("zte.grain") as string)?.EndsWith("/trace-dev-1", StringComparison.Ordinal) == true);
        Assert.Equal(RolloutTracing.StorageWriteSpan, write.OperationName);

        // Up from the write to the root of its trace, naming each span's source and kind.
        var byId = spans.Where(s => s.TraceId == write.TraceId).ToDictionary(s => s.SpanId);
        var chain = new List<string>();
        for (var span = write; span is not null; span = byId.GetValueOrDefault(span.ParentSpanId))
        {
            chain.Add($"{span.Source.Name} {span.Kind} {span.DisplayName}");
        }

        Assert.Equal(
        [
            $"{RolloutTracing.SourceName} Client {RolloutTracing.StorageWriteSpan}",
            "Microsoft.Orleans.Application Server IDeviceGrain/CheckInWithCredentialAsync",
            "Microsoft.Orleans.Application Client IDeviceGrain/CheckInWithCredentialAsync",
            "Microsoft.AspNetCore Server Microsoft.AspNetCore.Hosting.HttpRequestIn",
        ], chain);
        Assert.Equal("device", write.GetTagItem("zte.state"));
        var root = byId.Values.Single(s => s.Source.Name == "Microsoft.AspNetCore");
        Assert.Equal("/zte.rollout.device.v1.DeviceUpdate/CheckIn", root.GetTagItem("grpc.method"));
    }
}
