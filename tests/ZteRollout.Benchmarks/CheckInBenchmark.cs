using System.Diagnostics;
using ZteRollout.Admin.V1;
using ZteRollout.Benchmarks.Baseline;
using ZteRollout.Device.V1;

namespace ZteRollout.Benchmarks;

internal sealed record CheckInOptions(int Devices, int Seconds, int Concurrency, int Connections, int Rounds);

/// <summary>
/// Check-ins per second of the embedded orchestrator against a bare gRPC noop in the same run. The fleet sits in a
/// staged campaign at its first stage (1 %): about 1 % of devices hold an open offer and the rest are eligible but
/// waiting, which is what most of a real fleet's check-ins look like. Measurements alternate noop / check-in for
/// several rounds and each figure is the median over rounds, because the box is shared and noisy.
/// </summary>
internal static class CheckInBenchmark
{
    private const string Model = "BENCH-CI";
    private const string RunningVersion = "B1.0";
    private const string TargetVersion = "B2.0";
    private const string CampaignId = "bench-checkin";
    private const int RegisterBatchesInFlight = 4;
    private static readonly TimeSpan JitWarmUp = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(CheckInOptions o, TextWriter output)
    {
        BoxInfo.Print(output);
        output.WriteLine($"scenario=checkin devices={o.Devices} seconds={o.Seconds} concurrency={o.Concurrency} connections={o.Connections} rounds={o.Rounds}");

        await using var node = await OrchestratorNode.StartAsync();
        await using var noop = await NoopServer.StartAsync();

        var setup = Stopwatch.StartNew();
        var devices = await node.RegisterDevicesAsync("ci", o.Devices, RegisterBatchesInFlight, Model, RunningVersion);
        output.WriteLine($"setup: registered {devices.Length} devices in {setup.Elapsed.TotalSeconds:F1} s");
        var package = await node.UploadFullPackageAsync(Model, TargetVersion, size: 4096);
        await node.CreateAndStartCampaignAsync(CampaignId, Plan(package.PackageId));

        var checkInChannels = LoadRunner.OpenChannels(node.Address, o.Connections);
        var noopChannels = LoadRunner.OpenChannels(noop.Address, o.Connections);
        try
        {
            var deviceClients = checkInChannels.Select(c => new DeviceUpdate.DeviceUpdateClient(c)).ToArray();
            var noopClients = noopChannels.Select(c => new Noop.NoopClient(c)).ToArray();

            // The noop carries the same facts and the same per-device bearer header, so both put similar bytes on the wire.
            var pings = devices.Select(d => Ping(d.CheckIn)).ToArray();
            output.WriteLine($"wire: checkin_request_bytes={devices[0].CheckIn.CalculateSize()} ping_request_bytes={pings[0].CalculateSize()} (plus the same bearer header)");

            // Warm-up, not timed: every device checks in once (activates its grain, stores its facts, gets its decision).
            setup.Restart();
            var decisions = new long[4];
            await LoadRunner.RunOnceEachAsync(devices.Length, o.Concurrency, async i =>
            {
                var response = await deviceClients[i % deviceClients.Length].CheckInAsync(devices[i].CheckIn, devices[i].Headers);
                Interlocked.Increment(ref decisions[(int)response.DecisionCase]);
            });
            output.WriteLine(
                $"warmup: {devices.Length} first check-ins in {setup.Elapsed.TotalSeconds:F1} s: " +
                $"offer={decisions[(int)CheckInResponse.DecisionOneofCase.Offer]} " +
                $"no_update={decisions[(int)CheckInResponse.DecisionOneofCase.NoUpdate]} " +
                $"deferred={decisions[(int)CheckInResponse.DecisionOneofCase.Deferred]}");

            // A second untimed pass brings every device back to the steady state the timed run is meant to see: a big
            // fleet's first pass takes long enough that the grains of its early devices were collected (idle for Orleans'
            // collection age) and their facts are older than the grain's store interval, so their next check-in would
            // activate from SQLite and store its facts. Here they pay that, untimed.
            setup.Restart();
            await LoadRunner.RunOnceEachAsync(devices.Length, o.Concurrency, i =>
                deviceClients[i % deviceClients.Length].CheckInAsync(devices[i].CheckIn, devices[i].Headers).ResponseAsync);
            output.WriteLine($"warmup: {devices.Length} second check-ins in {setup.Elapsed.TotalSeconds:F1} s (reactivations and fact stores of devices first seen long ago)");
            var counts = (await node.GetCampaignAsync(CampaignId)).Counts;
            output.WriteLine(
                $"fleet: campaign at stage 1 of 4 (1 %, soak 1 h): {counts.Offered} devices hold an open offer (a check-in returns it again), " +
                $"{counts.Waiting} are eligible but waiting for a later stage (a check-in returns no update)");

            long cursor = -1;
            int Next() => (int)((ulong)Interlocked.Increment(ref cursor) % (ulong)devices.Length);
            Task NoopCallAsync(int caller)
            {
                var i = Next();
                return noopClients[caller % noopClients.Length].PingAsync(pings[i], devices[i].Headers).ResponseAsync;
            }

            Task CheckInCallAsync(int caller)
            {
                var d = devices[Next()];
                return deviceClients[caller % deviceClients.Length].CheckInAsync(d.CheckIn, d.Headers).ResponseAsync;
            }

            // Both paths run briefly before timing, so tiered JIT has compiled them alike.
            await LoadRunner.RunForAsync(JitWarmUp, o.Concurrency, NoopCallAsync);
            await LoadRunner.RunForAsync(JitWarmUp, o.Concurrency, CheckInCallAsync);

            var duration = TimeSpan.FromSeconds(o.Seconds);
            var noopRuns = new List<LoadResult>();
            var checkInRuns = new List<LoadResult>();
            for (var round = 1; round <= o.Rounds; round++)
            {
                var n = await LoadRunner.RunForAsync(duration, o.Concurrency, NoopCallAsync);
                var c = await LoadRunner.RunForAsync(duration, o.Concurrency, CheckInCallAsync);
                noopRuns.Add(n);
                checkInRuns.Add(c);
                output.WriteLine($"round {round}: noop {Describe(n)} | checkin {Describe(c)}");
            }

            var checkInRps = LoadRunner.Median(checkInRuns.Select(r => r.CallsPerSecond));
            var noopRps = LoadRunner.Median(noopRuns.Select(r => r.CallsPerSecond));
            output.WriteLine($"checkin_rps={checkInRps:F0}");
            output.WriteLine($"checkin_p50_ms={LoadRunner.Median(checkInRuns.Select(r => r.P50Ms)):F2}");
            output.WriteLine($"checkin_p99_ms={LoadRunner.Median(checkInRuns.Select(r => r.P99Ms)):F2}");
            output.WriteLine($"noop_rps={noopRps:F0}");
            output.WriteLine($"noop_p50_ms={LoadRunner.Median(noopRuns.Select(r => r.P50Ms)):F2}");
            output.WriteLine($"noop_p99_ms={LoadRunner.Median(noopRuns.Select(r => r.P99Ms)):F2}");
            output.WriteLine($"checkin_vs_noop_ratio={checkInRps / noopRps:F2}");
            return checkInRuns.Concat(noopRuns).Any(r => r.Errors > 0) ? 1 : 0;
        }
        finally
        {
            foreach (var channel in checkInChannels.Concat(noopChannels))
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>Eligible by model; stages 1/5/25/100 % that each soak an hour, so the run stays at stage 1.</summary>
    internal static CampaignPlan Plan(string packageId, string model = Model, string name = "check-in benchmark") => new()
    {
        Name = name,
        Targets = { new CampaignTarget { Model = model, PackageId = packageId } },
        Eligibility = new Eligibility { Models = { model } },
        InProgressTimeoutSeconds = 86400,
        Stages =
        {
            new Stage { Percent = 1, MinSoakSeconds = 3600 },
            new Stage { Percent = 5, MinSoakSeconds = 3600 },
            new Stage { Percent = 25, MinSoakSeconds = 3600 },
            new Stage { Percent = 100, MinSoakSeconds = 3600 },
        },
    };

    /// <summary>A noop request with the check-in's facts, flattened: about the same bytes on the wire.</summary>
    internal static PingRequest Ping(CheckInRequest checkIn) => new()
    {
        DeviceId = checkIn.DeviceId,
        Model = checkIn.Facts.Model,
        HardwareRevision = checkIn.Facts.HardwareRevision,
        Region = checkIn.Facts.Region,
        Carrier = checkIn.Facts.Carrier,
        CurrentVersion = checkIn.Facts.CurrentVersion,
        ActiveSlot = (uint)checkIn.Facts.ActiveSlot,
        BatteryPercent = checkIn.Facts.BatteryPercent,
        FreeStorageBytes = checkIn.Facts.FreeStorageBytes,
        AgentVersion = checkIn.Facts.AgentVersion,
    };

    private static string Describe(LoadResult r) =>
        $"{r.CallsPerSecond:F0} rps p50 {r.P50Ms:F2} ms p99 {r.P99Ms:F2} ms ({r.Calls} calls, {r.Errors} errors)";
}
