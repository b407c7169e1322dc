using System.Diagnostics;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Silo.Devices;

namespace ZteRollout.Benchmarks;

internal sealed record ScaleOptions(IReadOnlyList<int> Sizes, int Concurrency);

/// <summary>
/// Whether the cost of registering and first-checking-in a device stays flat as the fleet grows, and what a device
/// costs in memory. Each size runs on a fresh embedded node: register N devices, then every device's first check-in
/// (facts stored; a campaign at its 1 % stage makes ~1 % of them an offer and counts the rest as waiting, as in
/// <c>checkin</c>), then managed-heap figures with all device grains active and after Orleans collected every idle
/// activation. The baseline of each rate is the same rate at the smallest size, in the same run.
/// </summary>
internal static class ScaleBenchmark
{
    private const string Model = "BENCH-SCALE";
    private const string RunningVersion = "B1.0";
    private const string TargetVersion = "B2.0";
    private const string CampaignId = "bench-scale";
    private const string Prefix = "sc";
    // Two batches of 1000 in flight: enough to fill any commit batch, and few enough that on a slow store a call does not
    // wait in the queue past Orleans' 30 s response timeout (4 in flight timed out here at ~80 registrations/s).
    private const int RegisterBatchesInFlight = 2;
    private const int Connections = 4;
    private const int WarmUpDevices = 1000;
    private static readonly TimeSpan WallTarget = TimeSpan.FromMinutes(10);

    public static async Task<int> RunAsync(ScaleOptions o, TextWriter output)
    {
        BoxInfo.Print(output);
        output.WriteLine($"scenario=scale sizes={string.Join(',', o.Sizes)} concurrency={o.Concurrency} connections={Connections} register_batches_in_flight={RegisterBatchesInFlight}");
        output.WriteLine("memory: managed heap (GC.GetTotalMemory after two forced, blocking, compacting gen2 collections), this whole process; " +
            "bytes_per_active_device = (heap with every device grain active - heap after forced collection of idle activations) / device grains collected; " +
            "bytes_per_idle_device = (heap after that collection, without the client's tokens - heap of the node before any device) / devices registered");

        // The first size would otherwise also pay for the JIT of every path it runs, which flatters the flat ratio.
        var warmUp = await RunSizeAsync(WarmUpDevices, o.Concurrency);
        output.WriteLine($"warmup: {WarmUpDevices} devices registered and checked in on a throwaway node, not timed ({warmUp.Wall.TotalSeconds:F1} s)");

        var results = new List<SizeResult>();
        foreach (var size in o.Sizes)
        {
            var result = await RunSizeAsync(size, o.Concurrency);
            results.Add(result);
            output.WriteLine(result.Describe());
        }

        var smallest = results.MinBy(r => r.Devices)!;
        var largest = results.MaxBy(r => r.Devices)!;
        var flatRegister = largest.RegisterRps / smallest.RegisterRps;
        var flatCheckIn = largest.FirstCheckInRps / smallest.FirstCheckInRps;
        foreach (var r in results)
        {
            output.WriteLine($"register_rps_{r.Devices}={r.RegisterRps:F0} first_checkin_rps_{r.Devices}={r.FirstCheckInRps:F0}");
        }

        output.WriteLine($"flat_ratio_register={flatRegister:F2} (register rate at {largest.Devices} / at {smallest.Devices})");
        output.WriteLine($"flat_ratio_first_checkin={flatCheckIn:F2} (first check-in rate at {largest.Devices} / at {smallest.Devices})");
        output.WriteLine($"flat_ratio={Math.Min(flatRegister, flatCheckIn):F2} (the lower of the two; target >= 0.8)");
        output.WriteLine($"bytes_per_active_device={largest.BytesPerActiveDevice:F0} (at {largest.Devices}; target <= 4096)");
        output.WriteLine($"bytes_per_idle_device={largest.BytesPerIdleDevice:F0} (at {largest.Devices})");
        output.WriteLine($"wall_s_{largest.Devices}={largest.Wall.TotalSeconds:F0} (register + first check-in; target for 1000000: <= {WallTarget.TotalSeconds:F0})");
        return results.All(r => r.FirstCheckIns == r.Devices) ? 0 : 1;
    }

    private static async Task<SizeResult> RunSizeAsync(int size, int concurrency)
    {
        await using var node = await OrchestratorNode.StartAsync();
        var package = await node.UploadFullPackageAsync(Model, TargetVersion, size: 4096);
        await node.CreateAndStartCampaignAsync(CampaignId, Plan(package.PackageId));
        var channels = LoadRunner.OpenChannels(node.Address, Connections);
        try
        {
            var clients = channels.Select(c => new DeviceUpdate.DeviceUpdateClient(c)).ToArray();
            var heapBeforeDevices = ManagedHeapAfterFullCollection();

            // The client keeps one token string per device and builds each check-in when it sends it, so what it holds
            // per device is small; its share is measured and taken out below.
            var watch = Stopwatch.StartNew();
            string[]? tokens = await node.RegisterTokensAsync(Prefix, size, RegisterBatchesInFlight);
            var register = watch.Elapsed;

            var facts = OrchestratorNode.Facts(Model, RunningVersion);
            var decisions = new long[4];
            watch.Restart();
            await LoadRunner.RunOnceEachAsync(size, concurrency, async i =>
            {
                var request = new CheckInRequest { DeviceId = OrchestratorNode.DeviceId(Prefix, i), Facts = facts };
                var response = await clients[i % clients.Length].CheckInAsync(request, OrchestratorNode.Bearer(tokens![i]));
                Interlocked.Increment(ref decisions[(int)response.DecisionCase]);
            });
            var firstCheckIn = watch.Elapsed;

            var heapActive = ManagedHeapAfterFullCollection();
            var activeDevices = await DeviceActivationsAsync(node);

            // Every activation idle for any time at all: what a node holds once its devices have gone quiet.
            watch.Restart();
            await node.Management.ForceActivationCollection(TimeSpan.Zero);
            var collection = watch.Elapsed;
            var heapIdle = ManagedHeapAfterFullCollection();
            var idleDevices = await DeviceActivationsAsync(node);

            tokens = null;
            var heapWithoutClient = ManagedHeapAfterFullCollection();

            return new SizeResult(
                size,
                register,
                firstCheckIn,
                decisions.Sum(),
                decisions[(int)CheckInResponse.DecisionOneofCase.Offer],
                decisions[(int)CheckInResponse.DecisionOneofCase.NoUpdate],
                decisions[(int)CheckInResponse.DecisionOneofCase.Deferred],
                heapBeforeDevices,
                heapActive,
                activeDevices,
                collection,
                heapIdle,
                idleDevices,
                heapWithoutClient);
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>Device grain activations on the node's silo, from Orleans' own per-type counts ("Namespace.Class,Assembly").</summary>
    private static async Task<int> DeviceActivationsAsync(OrchestratorNode node)
    {
        var deviceGrainType = typeof(DeviceGrain).FullName + ",";
        var statistics = await node.Management.GetSimpleGrainStatistics();
        return statistics.Where(s => s.GrainType.StartsWith(deviceGrainType, StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }

    private static long ManagedHeapAfterFullCollection()
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: false);
    }

    /// <summary>The <c>checkin</c> benchmark's plan: stages 1/5/25/100 % that each soak an hour, so the run stays at 1 %.</summary>
    private static CampaignPlan Plan(string packageId) => CheckInBenchmark.Plan(packageId, Model, "scale benchmark");

    private sealed record SizeResult(
        int Devices,
        TimeSpan Register,
        TimeSpan FirstCheckIn,
        long FirstCheckIns,
        long Offers,
        long NoUpdates,
        long Deferred,
        long HeapBeforeDevices,
        long HeapActive,
        int ActiveDevices,
        TimeSpan Collection,
        long HeapIdle,
        int IdleDevices,
        long HeapWithoutClient)
    {
        public double RegisterRps => Devices / Register.TotalSeconds;

        public double FirstCheckInRps => Devices / FirstCheckIn.TotalSeconds;

        public TimeSpan Wall => Register + FirstCheckIn;

        public double BytesPerActiveDevice => ActiveDevices > IdleDevices ? (double)(HeapActive - HeapIdle) / (ActiveDevices - IdleDevices) : double.NaN;

        public double BytesPerIdleDevice => (double)(HeapWithoutClient - HeapBeforeDevices) / Devices;

        public double ClientBytesPerDevice => (double)(HeapIdle - HeapWithoutClient) / Devices;

        public string Describe() =>
            $"size {Devices}: registered in {Register.TotalSeconds:F1} s register_rps={RegisterRps:F0} | first check-ins in {FirstCheckIn.TotalSeconds:F1} s " +
            $"first_checkin_rps={FirstCheckInRps:F0} (offer={Offers} no_update={NoUpdates} deferred={Deferred}) | wall_s={Wall.TotalSeconds:F1}\n" +
            $"size {Devices}: heap_mib before_devices={Mib(HeapBeforeDevices)} active={Mib(HeapActive)} idle={Mib(HeapIdle)} idle_without_client={Mib(HeapWithoutClient)} | " +
            $"device_grains active={ActiveDevices} after_collection={IdleDevices} (collection took {Collection.TotalSeconds:F1} s) | " +
            $"bytes_per_active_device={BytesPerActiveDevice:F0} bytes_per_idle_device={BytesPerIdleDevice:F0} client_bytes_per_device={ClientBytesPerDevice:F0}";

        private static string Mib(long bytes) => (bytes / (1024.0 * 1024)).ToString("F1");
    }
}
