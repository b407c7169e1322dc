using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared;
using Agent = ZteRollout.DeviceAgent.DeviceAgent;

namespace ZteRollout.FleetSimulator;

internal sealed record SimulatorOptions(
    string Gateway,
    int Devices,
    double FailRate,
    double InterruptRate,
    int Concurrency,
    string DataDir,
    string? AdminKey,
    string? WorkDir,
    string Model,
    long PackageSize,
    int Seed,
    bool NoSetup,
    string? Campaign)
{
    /// <summary>Firmware-like FULL images and a server-generated delta instead of random bytes and an uploaded delta.</summary>
    public bool ServerDeltas { get; init; }
}

/// <summary>One simulated device of the run: its id, the version it starts on, and how it behaves.</summary>
internal sealed record DeviceSpec(string DeviceId, string StartVersion, AgentBehavior Behavior);

internal static class Simulation
{
    // Half the fleet runs the delta's base and should get the DELTA; the other half is older and gets the FULL.
    private const string DeltaBase = "SIM1.0.0";
    private const string OlderVersion = "SIM0.9.0";

    public static async Task<int> RunAsync(SimulatorOptions options, CancellationToken ct)
    {
        var adminKey = options.AdminKey ?? ReadAdminKey(options.DataDir);
        if (adminKey is null)
        {
            await Console.Error.WriteLineAsync(
                $"No admin key: {RolloutDataDirectory.AdminKeyFile(options.DataDir)} not found. Start the orchestrator first "
                + "(it creates the key), or pass --admin-key KEY, or --data-dir DIR (env ZTE_DATA_DIR) of the server's data directory.");
            return 1;
        }

        // A run id in the device ids and the version keeps runs apart on one server; digits keep the
        // version SIM1.0.<run> above SIM1.0.0 in the firmware version order.
        var runId = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var workDir = options.WorkDir ?? Path.Combine(Path.GetTempPath(), "zte-fleet-sim-" + runId);
        using var channel = GrpcChannel.ForAddress(options.Gateway, new GrpcChannelOptions
        {
            // One HTTP/2 connection caps concurrent streams (Kestrel: 100); let the pool open more.
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            DisposeHttpClient = true,
            MaxReceiveMessageSize = 16 << 20,
        });
        try
        {
            var setup = new ScenarioSetup(channel, adminKey);
            var serverDelta = options.ServerDeltas ? ServerDeltaRun.Plan(options, runId) : null;
            var specs = PlanDevices(options, runId, serverDelta?.BaseVersion ?? DeltaBase);
            await Console.Error.WriteLineAsync($"run {runId}: registering {specs.Count} devices (seed {options.Seed})");
            var tokens = await setup.RegisterDevicesAsync([.. specs.Select(s => s.DeviceId)], ct);
            var publicKeyPem = await setup.GetSigningKeyPemAsync(ct);
            var campaignId = options.NoSetup ? options.Campaign!
                : serverDelta is not null ? await serverDelta.SetUpCampaignAsync(setup, Carrier(runId), ct)
                : await SetUpCampaignAsync(setup, options, runId, ct);
            await Console.Error.WriteLineAsync($"campaign {campaignId}: running {specs.Count} devices, {options.Concurrency} at once, in {workDir}");

            var tally = new Tally();
            var clock = Stopwatch.StartNew();
            using (var progress = new CancellationTokenSource())
            {
                var reporter = ReportProgressAsync(tally, specs.Count, clock, progress.Token);
                await Parallel.ForEachAsync(
                    specs,
                    new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = ct },
                    async (spec, token) =>
                    {
                        var device = SimulatedDevice.Create(Path.Combine(workDir, spec.DeviceId), spec.StartVersion,
                            serverDelta is not null && spec.StartVersion == serverDelta.BaseVersion ? serverDelta.BaseImage : null);
                        var agent = new Agent(channel, spec.DeviceId, tokens[spec.DeviceId], publicKeyPem, device, spec.Behavior);
                        try
                        {
                            tally.Add(await agent.RunOnceAsync(token));
                        }
                        catch (Exception e) when (e is DeviceAgentException or IOException)
                        {
                            tally.AddError(spec.DeviceId, e);
                        }
                    });
                await progress.CancelAsync();
                await reporter;
            }

            var seconds = clock.Elapsed.TotalSeconds;
            foreach (var error in tally.FirstErrors)
            {
                await Console.Error.WriteLineAsync("error: " + error);
            }

            await Console.Error.WriteLineAsync($"no_update={tally.Count(AgentOutcome.NoUpdate)} errors={tally.Errors}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"devices={specs.Count} offered={tally.Offered} succeeded={tally.Count(AgentOutcome.Succeeded)} "
                + $"failed={tally.Count(AgentOutcome.Failed)} rolled_back={tally.Count(AgentOutcome.RolledBack)} "
                + $"deferred={tally.Count(AgentOutcome.Deferred)} refused={tally.Count(AgentOutcome.Refused)} "
                + $"bytes={tally.Bytes} seconds={seconds:0.00} campaign={campaignId}"));

            if (serverDelta is not null)
            {
                // Every offer would have been the FULL image without the server's delta.
                var withoutDeltas = (long)tally.Offered * serverDelta.FullSize;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"deltas: delta={serverDelta.DeltaSize} B full={serverDelta.FullSize} B ({100.0 * serverDelta.DeltaSize / serverDelta.FullSize:0.00} %) "
                    + $"bytes_without_deltas={withoutDeltas} bytes_saved={withoutDeltas - tally.Bytes} ({100.0 * (withoutDeltas - tally.Bytes) / Math.Max(1, withoutDeltas):0.0} %)"));
            }

            var server = await AwaitServerCountsAsync(setup, campaignId, tally, ct);
            Console.WriteLine($"server: offered={server.Offered} succeeded={server.Succeeded} failed={server.Failed} "
                + $"rolled_back={server.RolledBack} deferred={server.Deferred}");
            var match = Matches(server, tally);
            Console.WriteLine(match ? "match=true" : "match=false");
            return match && tally.Errors == 0 ? 0 : 1;
        }
        catch (RpcException e)
        {
            await Console.Error.WriteLineAsync($"Server call failed: {e.StatusCode}: {e.Status.Detail}");
            return 1;
        }
        finally
        {
            if (options.WorkDir is null && Directory.Exists(workDir))
            {
                Directory.Delete(workDir, recursive: true);
            }
        }
    }

    private static string? ReadAdminKey(string dataDir)
    {
        var path = RolloutDataDirectory.AdminKeyFile(dataDir);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    /// <summary>
    /// Decides every device up front from the seed alone, so a run is repeatable: the same seed fails the same
    /// devices. Failing devices alternate between FAILED at install and ROLLED_BACK after reboot, so each kind
    /// is half of the failures; three draws per device keep later devices' choices independent of earlier ones'.
    /// </summary>
    private static List<DeviceSpec> PlanDevices(SimulatorOptions options, string runId, string deltaBase)
    {
        var random = new Random(options.Seed);
        var deltaSize = DeltaSize(options.PackageSize);
        var failures = 0;
        var specs = new List<DeviceSpec>(options.Devices);
        for (var i = 0; i < options.Devices; i++)
        {
            var fails = random.NextDouble() < options.FailRate;
            var interrupts = random.NextDouble() < options.InterruptRate;
            // Below the delta's size, so the cut happens whichever package the device gets. Scaled from
            // NextDouble, which takes one sample whatever the size (NextInt64 takes a size-dependent number).
            var interruptAt = 1 + (long)(random.NextDouble() * (deltaSize - 1));
            var behavior = new AgentBehavior
            {
                Model = options.Model,
                Carrier = Carrier(runId),
                FailInstall = fails && failures % 2 == 0,
                RollBackAfterReboot = fails && failures % 2 == 1,
                InterruptDownloadAfterBytes = interrupts ? interruptAt : null,
            };
            failures += fails ? 1 : 0;
            var id = string.Create(CultureInfo.InvariantCulture, $"sim-{runId}-{i + 1:00000}");
            specs.Add(new DeviceSpec(id, i % 2 == 0 ? deltaBase : OlderVersion, behavior));
        }

        return specs;
    }

    private static long DeltaSize(long fullSize) => Math.Max(1, fullSize / 4);

    /// <summary>
    /// The run's own carrier. The campaign is restricted to it: campaigns of earlier runs are still running on
    /// the same model and versions, and the server would otherwise offer from whichever of them ranks first.
    /// </summary>
    private static string Carrier(string runId) => "sim-" + runId;

    private static async Task<string> SetUpCampaignAsync(ScenarioSetup setup, SimulatorOptions options, string runId, CancellationToken ct)
    {
        var version = "SIM1.0." + runId;
        var full = await setup.UploadAsync(
            new PackageMetadata { Version = version, TargetModels = { options.Model }, Kind = PackageKind.Full, ReleaseNotes = "fleet simulator" },
            options.PackageSize, ct);
        var delta = await setup.UploadAsync(
            new PackageMetadata
            {
                Version = version, TargetModels = { options.Model }, Kind = PackageKind.Delta, BaseVersion = DeltaBase, ReleaseNotes = "fleet simulator",
            },
            DeltaSize(options.PackageSize), ct);
        await Console.Error.WriteLineAsync($"packages: full {full.PackageId} ({full.Size} B), delta {delta.PackageId} ({delta.Size} B) -> {version}");
        return await setup.StartCampaignAsync("fleet-sim " + runId, options.Model, Carrier(runId), full.PackageId, ct);
    }

    private static async Task ReportProgressAsync(Tally tally, int total, Stopwatch clock, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await Console.Error.WriteLineAsync(tally.Progress(total, clock.Elapsed));
            }
        }
        catch (OperationCanceledException)
        {
            // The run finished; print where it ended.
        }

        await Console.Error.WriteLineAsync(tally.Progress(total, clock.Elapsed));
    }

    /// <summary>
    /// Reads the campaign's counts, polling briefly because the server may aggregate them after acking reports.
    /// A device that refused an offer reported FAILED, so the server's failed count includes refusals.
    /// </summary>
    private static async Task<CampaignCounts> AwaitServerCountsAsync(ScenarioSetup setup, string campaignId, Tally tally, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var counts = await setup.GetCountsAsync(campaignId, ct);
            if (Matches(counts, tally) || deadline.Elapsed > TimeSpan.FromSeconds(15))
            {
                return counts;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }
    }

    private static bool Matches(CampaignCounts server, Tally client) =>
        server.Offered == (ulong)client.Offered
        && server.Succeeded == (ulong)client.Count(AgentOutcome.Succeeded)
        && server.Failed == (ulong)(client.Count(AgentOutcome.Failed) + client.Count(AgentOutcome.Refused))
        && server.RolledBack == (ulong)client.Count(AgentOutcome.RolledBack);
}
