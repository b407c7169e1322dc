using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Xunit.Abstractions;
using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;
using Agent = ZteRollout.DeviceAgent.DeviceAgent;

namespace ZteRollout.Tests.Cluster;

/// <summary>One cluster of real processes for the fault scenarios, which run one after another on it.</summary>
[CollectionDefinition(Name)]
public sealed class RealProcessClusterCollection : ICollectionFixture<RealProcessClusterFixture>
{
    public const string Name = "real-process cluster";
}

public sealed class RealProcessClusterFixture : IAsyncLifetime
{
    private LocalClusterProcesses? _cluster;

    public LocalClusterProcesses Cluster => _cluster ?? throw new InvalidOperationException("The cluster did not start.");

    private string _startLog = string.Empty;

    /// <summary>What starting the cluster printed, once: the first scenario shows it.</summary>
    public string TakeStartLog() => Interlocked.Exchange(ref _startLog, string.Empty);

    public async Task InitializeAsync() =>
        _cluster = await LocalClusterProcesses.StartAsync(silos: 3, gateways: 2, line => _startLog += line + "\n");

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

/// <summary>
/// Process faults on a real cluster (3 silo processes, 2 gateway processes, PostgreSQL — deploy/local-cluster.sh's
/// shape) while 2,000 reference agents are mid-rollout, using both gateways round robin with the agent's default
/// retry budget: a silo killed with SIGKILL, the silo of the campaign and directory grains killed, a gateway killed,
/// and every process killed and restarted (there the agents retry for longer: see <see cref="Behavior"/>). Each ends
/// with no device error and the campaign's counts equal to what the devices were told, within 60 s of the fleet
/// finishing; a killed silo is declared dead within 10 s.
/// Each prints the time to detection and the longest stall a device saw.
/// </summary>
[Collection(RealProcessClusterCollection.Name)]
public sealed class RealProcessFaultTests(RealProcessClusterFixture fixture, ITestOutputHelper output)
{
    private const int DeviceCount = 2000;
    private const int Concurrency = 100;
    private const string SourceVersion = "R1.0";
    private const string TargetVersion = "R2.0";
    private static readonly TimeSpan DetectionLimit = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CountsSettleLimit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public Task Cluster_SiloKilledMidRollout_NoDeviceError_CountsEqualTheTally() =>
        RunAsync("silo", faultAfter: 1400, (cluster, campaignId, log) => Task.FromResult<Func<Task>>(async () =>
        {
            // Late in the round, the silo holding the most of the campaign's stats shards, but not the campaign grain:
            // the campaign keeps the summaries the dead shards sent while their new activations count again.
            var hosts = await cluster.SilosHostingAsync([g => g.Campaign(campaignId),
                .. Enumerable.Range(0, StatsSharding.ShardCount).Select(i => (Func<IGrainFactory, IAddressable>)(g => g.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(campaignId, i))))]);
            var shards = hosts.Skip(1).Where(h => h is not null).GroupBy(h => h!).ToDictionary(g => g.Key, g => g.Count());
            var victim = cluster.Silos.Where(s => s != hosts[0]).MaxBy(s => shards.GetValueOrDefault(s))!;
            log.Write($"campaign grain on {hosts[0]?.Name ?? "(not active)"}; stats shards per silo: "
                + string.Join(", ", cluster.Silos.Select(s => $"{s.Name} {shards.GetValueOrDefault(s)}")));
            await KillSiloAsync(cluster, victim, log);
        }));

    [Fact]
    public Task Cluster_SiloOfCampaignAndDirectoryKilledMidRollout_NoDeviceError_CountsEqualTheTally() =>
        RunAsync("owner", faultAfter: 600, async (cluster, campaignId, log) =>
        {
            var hosts = await cluster.SilosHostingAsync(g => g.Campaign(campaignId), g => g.GetGrain<ICampaignDirectoryGrain>(0));
            var (campaign, directory) = (hosts[0] ?? throw new InvalidOperationException("the campaign grain is not active"), hosts[1]);
            log.Write($"campaign grain on {campaign.Name}, campaign directory grain on {directory?.Name ?? "(not active)"}");

            // Placement is Orleans' choice: when the two grains live apart, their silos die one after the other.
            return async () =>
            {
                await KillSiloAsync(cluster, campaign, log);
                if (directory is not null && directory != campaign)
                {
                    await KillSiloAsync(cluster, directory, log);
                }
            };
        });

    [Fact]
    public Task Cluster_GatewayKilledMidRollout_NoDeviceError_CountsEqualTheTally() =>
        RunAsync("gateway", faultAfter: 600, (cluster, campaignId, log) => Task.FromResult<Func<Task>>(async () =>
        {
            var victim = cluster.Gateways[0];
            var pid = victim.ProcessId;
            var clock = Stopwatch.StartNew();
            victim.Kill();
            log.Write($"kill -9 {victim.Name} (pid {pid}); devices go on through the other gateway");

            // A supervisor restarts a crashed process after a while; meanwhile only the other gateway serves.
            await Task.Delay(TimeSpan.FromSeconds(5));
            await cluster.RestartAsync(victim);
            log.Write($"{victim.Name} restarted and answering {clock.Elapsed.TotalSeconds:0.0} s after the kill");
        }));

    [Fact]
    public Task Cluster_EveryProcessKilledAndRestartedMidRollout_NoDeviceError_CountsEqualTheTally() =>
        RunAsync("restart", faultAfter: 1000, patientDevices: true, (cluster, campaignId, log) => Task.FromResult<Func<Task>>(async () =>
        {
            var clock = Stopwatch.StartNew();
            Parallel.ForEach(cluster.All, p => p.Kill());
            log.Write($"kill -9 of all {cluster.All.Count()} processes took {clock.Elapsed.TotalMilliseconds:0} ms; restarting them all");
            await cluster.StartAllAsync(silosActive: () => log.Write($"every silo active again {clock.Elapsed.TotalSeconds:0.0} s after the kill"));
            log.Write($"every gateway answering {clock.Elapsed.TotalSeconds:0.0} s after the kill");
        }));

    /// <summary>
    /// A fresh campaign and fleet of <see cref="DeviceCount"/> devices on its own model; the fleet runs one round
    /// (check in, download, install, report) and the fault starts once <paramref name="faultAfter"/> devices are done
    /// (late in the round, a shard's in-memory view has counted much of what it will count).
    /// Then: no device error, counts equal to the devices' tally within <see cref="CountsSettleLimit"/>.
    /// </summary>
    private Task RunAsync(string name, int faultAfter, Func<LocalClusterProcesses, string, ScenarioLog, Task<Func<Task>>> prepareFault) =>
        RunAsync(name, faultAfter, patientDevices: false, prepareFault);

    private async Task RunAsync(string name, int faultAfter, bool patientDevices, Func<LocalClusterProcesses, string, ScenarioLog, Task<Func<Task>>> prepareFault)
    {
        var cluster = fixture.Cluster;
        var total = Stopwatch.StartNew();
        var log = new ScenarioLog(line => output.WriteLine($"{total.Elapsed.TotalSeconds,6:0.0} s  {line}"));

        if (fixture.TakeStartLog() is { Length: > 0 } started)
        {
            output.WriteLine(started.TrimEnd());
        }

        // Whole again after an earlier scenario.
        await cluster.StartAllAsync();
        var campaignId = $"rpf-{name}";
        var model = $"RPF-{name.ToUpperInvariant()}";
        var package = await Scenario.UploadAsync(cluster, Scenario.Full(model, TargetVersion), Scenario.RandomBytes(64 * 1024, seed: name.Length));
        await Scenario.StartCampaignAsync(cluster, campaignId, model, package.PackageId);
        var ids = Enumerable.Range(0, DeviceCount).Select(i => $"rpf-{name}-{i:D4}").ToArray();
        var tokens = new Dictionary<string, string>();
        foreach (var batch in ids.Chunk(1000))
        {
            foreach (var (id, token) in await Scenario.RegisterAsync(cluster, batch))
            {
                tokens[id] = token;
            }
        }

        var publicKey = (await cluster.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), cluster.AdminHeaders)).PublicKeyPem;
        var root = TestPaths.NewTempDirectory($"rpf-{name}");
        try
        {
            var fleet = ids.Select((id, i) => new FleetDevice(id, tokens[id], SimulatedDevice.Create(Path.Combine(root, id), SourceVersion), Behavior(model, i, patientDevices))).ToList();
            var fault = await prepareFault(cluster, campaignId, log);
            log.Write($"{DeviceCount} devices registered, campaign {campaignId} running; the fault comes after {faultAfter} devices are done");

            var (results, errors, stalls, fleetTime) = await RunFleetAsync(cluster, publicKey, fleet, faultAfter, fault, log.Write);
            log.Write($"fleet done in {fleetTime.TotalSeconds:0.0} s: {results.Count} rounds finished, {errors.Count} device errors; {stalls.Describe()}");
            var tally = Figures.Of(results.Values);
            var (counts, settled) = await SettledCountsAsync(cluster, campaignId, tally);
            log.Write($"client tally  {tally}");
            log.Write($"server counts {counts} ({(counts == tally ? $"equal {settled.TotalSeconds:0.0} s after the fleet finished" : $"still different after {settled.TotalSeconds:0} s")})");
            if (counts != tally)
            {
                log.Write(await ExplainAsync(cluster, campaignId, results));
            }

            log.Write($"scenario took {total.Elapsed.TotalSeconds:0} s");
            Assert.True(errors.IsEmpty, $"{errors.Count} devices failed:\n{string.Join('\n', errors.Take(20))}\n{cluster.RecentOutput()}");
            Assert.Equal(tally, counts);
            Assert.All(log.Detections, d => Assert.True(d <= DetectionLimit, $"a killed silo was declared dead after {d.TotalSeconds:0.0} s (limit {DetectionLimit.TotalSeconds} s)"));
        }
        finally
        {
            TestPaths.TryDelete(root);
        }
    }

    private static async Task<(ConcurrentDictionary<string, AgentRunResult> Results, ConcurrentQueue<string> Errors, DeviceStallRecorder Stalls, TimeSpan Took)> RunFleetAsync(
        LocalClusterProcesses cluster, string publicKey, List<FleetDevice> fleet, int faultAfter, Func<Task> fault, Action<string> log)
    {
        var results = new ConcurrentDictionary<string, AgentRunResult>(StringComparer.Ordinal);
        var errors = new ConcurrentQueue<string>();
        var stalls = new DeviceStallRecorder();
        var invoker = cluster.Channel.Intercept(stalls);
        var trigger = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var faulting = Task.Run(async () =>
        {
            await trigger.Task;
            await fault();
        });
        var done = 0;
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(fleet, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (d, ct) =>
        {
            try
            {
                results[d.Id] = await new Agent(invoker, d.Id, d.Token, publicKey, d.Device, d.Behavior).RunOnceAsync(ct);
            }
            catch (Exception e) when (e is DeviceAgentException or IOException)
            {
                errors.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {d.Id}: {e.Message}");
            }

            if (Interlocked.Increment(ref done) == faultAfter)
            {
                log($"{faultAfter} devices done after {clock.Elapsed.TotalSeconds:0.0} s: fault");
                trigger.TrySetResult();
            }
        });
        var took = clock.Elapsed;
        await faulting;
        return (results, errors, stalls, took);
    }

    /// <summary>Kills a silo, measures how long until the cluster declares it dead, and restarts it (same ports).</summary>
    private static async Task KillSiloAsync(LocalClusterProcesses cluster, ClusterProcess victim, ScenarioLog log)
    {
        var row = await cluster.RowOfAsync(victim) ?? throw new InvalidOperationException($"{victim.Name} has no membership row");
        var pid = victim.ProcessId;
        var clock = Stopwatch.StartNew();
        victim.Kill();
        log.Write($"kill -9 {victim.Name} (pid {pid}, silo port {victim.Port}, generation {row.Generation})");
        var detected = await cluster.WaitUntilDeclaredDeadAsync(victim, row.Generation, clock, TimeSpan.FromSeconds(90));
        log.Detections.Add(detected);
        log.Write($"{victim.Name} declared dead by the cluster {detected.TotalSeconds:0.00} s after the kill");
        await cluster.RestartAsync(victim);
        log.Write($"{victim.Name} restarted and active again {clock.Elapsed.TotalSeconds:0.0} s after the kill");
    }

    /// <summary>
    /// One device in 20 fails: alternately FAILED at install and ROLLED_BACK after the reboot. Devices keep the
    /// reference agent's default retry budget (8 attempts, at most about 16 s of backoff), except where told to be
    /// patient: no budget of seconds rides out a restart of every process, which takes tens of seconds, so there the
    /// agents make up to <see cref="PatientAttempts"/> attempts (about two minutes at the 5 s backoff ceiling).
    /// </summary>
    private static AgentBehavior Behavior(string model, int index, bool patient) => new()
    {
        Model = model,
        FailInstall = index % 40 == 7,
        RollBackAfterReboot = index % 40 == 27,
        MaxAttempts = patient ? PatientAttempts : new AgentBehavior().MaxAttempts,
    };

    private const int PatientAttempts = 48;

    /// <summary>The campaign's counts once they equal <paramref name="expected"/>, or as they are when the limit has passed.</summary>
    private static async Task<(Figures Counts, TimeSpan Waited)> SettledCountsAsync(LocalClusterProcesses cluster, string campaignId, Figures expected)
    {
        var clock = Stopwatch.StartNew();
        var counts = Figures.None;
        while (true)
        {
            try
            {
                var campaign = await cluster.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = campaignId }, cluster.AdminHeaders, DateTime.UtcNow + CallTimeout);
                counts = Figures.Of(campaign.Counts);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                // A restarted cluster may still be settling; the time limit decides.
            }

            if (counts == expected || clock.Elapsed > CountsSettleLimit)
            {
                return (counts, clock.Elapsed);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }
    }

    /// <summary>Where counts and tally part: the stored ledger per outcome, and devices whose ledger row disagrees with what they were told.</summary>
    private static async Task<string> ExplainAsync(LocalClusterProcesses cluster, string campaignId, IReadOnlyDictionary<string, AgentRunResult> results)
    {
        var ledger = await cluster.LedgerAsync(campaignId);
        var byOutcome = string.Join(", ", ledger.GroupBy(l => (DeviceOutcome)l.Value).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));
        var disagree = results
            .Where(r => Expected(r.Value.Outcome) is { } want && (!ledger.TryGetValue(r.Key, out var held) || held != (int)want))
            .Select(r => $"{r.Key}: told {r.Value.Outcome}, ledger {(ledger.TryGetValue(r.Key, out var held) ? ((DeviceOutcome)held).ToString() : "no row")}")
            .ToList();
        return $"ledger rows: {ledger.Count} ({byOutcome}); {disagree.Count} devices whose ledger row differs from their outcome"
            + (disagree.Count > 0 ? ":\n  " + string.Join("\n  ", disagree.Take(20)) : " (so the counts lag the ledger)");

        static DeviceOutcome? Expected(AgentOutcome outcome) => outcome switch
        {
            AgentOutcome.Succeeded => DeviceOutcome.Succeeded,
            AgentOutcome.Failed or AgentOutcome.Refused => DeviceOutcome.Failed,
            AgentOutcome.RolledBack => DeviceOutcome.RolledBack,
            _ => null,
        };
    }

    /// <summary>A scenario's timestamped lines, and the detection times it measured.</summary>
    private sealed class ScenarioLog(Action<string> write)
    {
        public ConcurrentBag<TimeSpan> Detections { get; } = [];

        public void Write(string line) => write(line);
    }

    private sealed record FleetDevice(string Id, string Token, SimulatedDevice Device, AgentBehavior Behavior);

    /// <summary>A campaign's counts, or the same figures from the devices' own results.</summary>
    private sealed record Figures(ulong Offered, ulong InProgress, ulong Installed, ulong Succeeded, ulong Failed, ulong RolledBack, ulong TimedOut, ulong Canceled)
    {
        public static readonly Figures None = new(0, 0, 0, 0, 0, 0, 0, 0);

        public static Figures Of(ZteRollout.Admin.V1.CampaignCounts c) => new(c.Offered, c.InProgress, c.Installed, c.Succeeded, c.Failed, c.RolledBack, c.TimedOut, c.Canceled);

        /// <summary>What the devices were told: every handled offer counted once; a refusal is reported FAILED.</summary>
        public static Figures Of(ICollection<AgentRunResult> results)
        {
            ulong Count(params AgentOutcome[] outcomes) => (ulong)results.Count(r => outcomes.Contains(r.Outcome));
            return new Figures((ulong)results.Count(r => r.OfferId is not null), 0, 0,
                Count(AgentOutcome.Succeeded), Count(AgentOutcome.Failed, AgentOutcome.Refused), Count(AgentOutcome.RolledBack), 0, 0);
        }

        public override string ToString() =>
            $"offered {Offered}, in progress {InProgress}, installed {Installed}, succeeded {Succeeded}, failed {Failed}, rolled back {RolledBack}, timed out {TimedOut}, canceled {Canceled}";
    }
}
