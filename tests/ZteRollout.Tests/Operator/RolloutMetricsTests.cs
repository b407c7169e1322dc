using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Silo.Campaigns;
using ZteRollout.Tests.Ddi;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Operator;

/// <summary>The rollout meter as Prometheus scrapes it from the operator listener's <c>/metrics</c>.</summary>
[Collection(NodeCollection.Name)]
public sealed class RolloutMetricsTests(NodeFixture fixture) : IDisposable
{
    private readonly OperatorClient _client = new(fixture.Node.OperatorAddress ?? throw new InvalidOperationException("the test node serves no operator listener"));

    private EmbeddedNodeHost Node => fixture.Node;

    public void Dispose() => _client.Dispose();

    private async Task<string> ScrapeAsync()
    {
        using var response = await _client.GetAsync("/metrics", NodeFixture.ViewerKey);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>
    /// The value of one series (name and every label, in the exporter's order, after the meter's scope labels which
    /// the exporter adds), 0 when absent.
    /// </summary>
    private static double Value(string exposition, string series)
    {
        series = series.Replace("{", """{otel_scope_name="ZteRollout.Rollout",otel_scope_version="1.0",""", StringComparison.Ordinal);
        var line = exposition.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Metrics_AfterASmallRollout_CountOffersOutcomesCheckInsHaltsAndBytes()
    {
        const int packageSize = 20_000;
        var package = await Scenario.UploadAsync(Node, Scenario.Full("MET-1", "R2.0"), Scenario.RandomBytes(packageSize, seed: 11));
        await Scenario.StartCampaignAsync(Node, "met-c1", "MET-1", package.PackageId);
        var tokens = await Scenario.RegisterAsync(Node, "met-1", "met-2", "met-3");
        var before = await ScrapeAsync();

        var offers = new Dictionary<string, string>();
        foreach (var (deviceId, token) in tokens)
        {
            var answer = await Scenario.CheckInAsync(Node, deviceId, token, Scenario.Facts("MET-1", "R1.0"));
            offers[deviceId] = answer.Offer.OfferId;
            await Scenario.DownloadAsync(Node, deviceId, token, answer.Offer.OfferId);
        }

        foreach (var deviceId in new[] { "met-1", "met-2" })
        {
            await Scenario.ReportAsync(Node, deviceId, tokens[deviceId], offers[deviceId], InstallStep.Installed);
            await Scenario.ReportAsync(Node, deviceId, tokens[deviceId], offers[deviceId], InstallStep.Succeeded, runningVersion: "R2.0");
        }

        await Scenario.ReportAsync(Node, "met-3", tokens["met-3"], offers["met-3"], InstallStep.Failed, errorCode: "E_FLASH");
        await Node.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = "met-c1", Reason = "metrics test" }, EmbeddedNodeHost.Bearer(NodeFixture.SreKey));
        var after = await ScrapeAsync();

        Assert.Equal(3, Value(after, """zte_rollout_offers_total{campaign="met-c1",kind="full"}"""));
        Assert.Equal(3, Value(after, """zte_rollout_outcomes_total{campaign="met-c1",error_code="",stage="1",status="offered"}"""));
        Assert.Equal(2, Value(after, """zte_rollout_outcomes_total{campaign="met-c1",error_code="",stage="1",status="succeeded"}"""));
        Assert.Equal(1, Value(after, """zte_rollout_outcomes_total{campaign="met-c1",error_code="E_FLASH",stage="1",status="failed"}"""));
        Assert.Equal(1, Value(after, """zte_rollout_halts_total{campaign="met-c1",trigger="operator"}"""));
        // Process-wide series: what this test added (the collection's tests run one at a time).
        Assert.Equal(3, Value(after, """zte_rollout_checkins_total{result="offer"}""") - Value(before, """zte_rollout_checkins_total{result="offer"}"""));
        Assert.Equal(3 * packageSize, Value(after, """zte_rollout_download_bytes_total{protocol="grpc"}""") - Value(before, """zte_rollout_download_bytes_total{protocol="grpc"}"""));
    }

    [Fact]
    public async Task Metrics_ShowEachSilosSnapshotVersion_ItsPublishLatencies_AndEveryDurableWrite()
    {
        var snapshots = Node.Services.GetRequiredService<SnapshotCache>();
        var silo = Node.Services.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress.ToString();
        var package = await Scenario.UploadAsync(Node, Scenario.Full("MET-SNAP", "R2.0"), Scenario.RandomBytes(4096, seed: 17));
        var tokens = await Scenario.RegisterAsync(Node, "met-snap-1");
        var before = await ScrapeAsync();
        var versionBefore = snapshots.Current!.Version;

        // Starting a campaign publishes one snapshot version; the device's check-in stores its offer.
        await Scenario.StartCampaignAsync(Node, "met-snap", "MET-SNAP", package.PackageId);
        var answer = await Scenario.CheckInAsync(Node, "met-snap-1", tokens["met-snap-1"], Scenario.Facts("MET-SNAP", "R1.0"));
        Assert.False(string.IsNullOrEmpty(answer.Offer.OfferId));
        var after = await ScrapeAsync();
        var versionAfter = snapshots.Current!.Version;

        Assert.Equal(versionBefore + 1, versionAfter);
        Assert.Equal(versionAfter, Value(after, $$"""zte_rollout_snapshot_version{silo="{{silo}}"}"""));
        Assert.Equal(1, Value(after, $$"""zte_rollout_snapshot_publish_latency_seconds_count{silo="{{silo}}"}""")
            - Value(before, $$"""zte_rollout_snapshot_publish_latency_seconds_count{silo="{{silo}}"}"""));
        // Each durable write is observed under its state once its ack is back: the device's offer (awaited by the
        // check-in), the directory's two changes (awaited by create and start); and each group commit transaction.
        Assert.Equal(1, Value(after, """zte_rollout_storage_write_duration_seconds_count{state="device"}""") - Value(before, """zte_rollout_storage_write_duration_seconds_count{state="device"}"""));
        Assert.Equal(2, Value(after, """zte_rollout_storage_write_duration_seconds_count{state="directory"}""") - Value(before, """zte_rollout_storage_write_duration_seconds_count{state="directory"}"""));
        Assert.True(Value(after, """zte_rollout_storage_commit_duration_seconds_count{result="ok"}""") > Value(before, """zte_rollout_storage_commit_duration_seconds_count{result="ok"}"""));
        Assert.Contains("# TYPE zte_rollout_storage_write_duration_seconds histogram", after);
    }

    [Fact]
    public async Task Metrics_CountFleetFreezes_AndNeedAKey()
    {
        using var noKey = await _client.GetAsync("/metrics", key: null);
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);

        var before = Value(await ScrapeAsync(), """zte_rollout_fleet_freezes_total{action="freeze"}""");
        var sre = EmbeddedNodeHost.Bearer(NodeFixture.SreKey);
        await Node.Admin.FreezeFleetAsync(new FleetRequest { Reason = "metrics test" }, sre);
        await Node.Admin.FreezeFleetAsync(new FleetRequest { Reason = "metrics test, repeated" }, sre);
        await Node.Admin.UnfreezeFleetAsync(new FleetRequest { Reason = "metrics test done" }, sre);
        var after = await ScrapeAsync();

        // A repeated freeze changes nothing and is not counted.
        Assert.Equal(1, Value(after, """zte_rollout_fleet_freezes_total{action="freeze"}""") - before);
        Assert.Contains("# TYPE zte_rollout_fleet_freezes_total counter", after);
    }

    [Fact]
    public async Task Metrics_CountDdiDownloadBytes_ApartFromGrpcOnes()
    {
        const int packageSize = 30_000;
        var metadata = Scenario.Full("MET-DDI", "R2.0");
        metadata.Filename = "image.swu";
        var package = await Scenario.UploadAsync(Node, metadata, Scenario.RandomBytes(packageSize, seed: 13));
        await Scenario.StartCampaignAsync(Node, "met-ddi", "MET-DDI", package.PackageId);
        var token = (await Scenario.RegisterAsync(Node, "met-ddi-1"))["met-ddi-1"];
        using var client = new DdiClient(Node.DdiAddress!, "met-ddi-1", token);
        using var put = await client.PutConfigDataAsync("""{"model":"MET-DDI","version":"R1.0"}""");
        using var deploymentResponse = await client.SendAsync(HttpMethod.Get, DdiClient.Link(await client.PollAsync(), "deploymentBase")!);
        var deployment = await DdiClient.JsonAsync(deploymentResponse);
        var download = deployment["deployment"]!["chunks"]![0]!["artifacts"]![0]!["_links"]!["download-http"]!["href"]!.GetValue<string>();
        var before = await ScrapeAsync();

        using var bytes = await client.SendAsync(HttpMethod.Get, download);
        Assert.Equal(packageSize, (await bytes.Content.ReadAsByteArrayAsync()).Length);
        var after = await ScrapeAsync();

        Assert.Equal(packageSize, Value(after, """zte_rollout_download_bytes_total{protocol="ddi"}""") - Value(before, """zte_rollout_download_bytes_total{protocol="ddi"}"""));
        Assert.Equal(0, Value(after, """zte_rollout_download_bytes_total{protocol="grpc"}""") - Value(before, """zte_rollout_download_bytes_total{protocol="grpc"}"""));
        Assert.Equal(1, Value(after, """zte_rollout_offers_total{campaign="met-ddi",kind="full"}"""));
    }
}
