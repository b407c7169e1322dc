using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Npgsql;
using ZteRollout.Admin.V1;
using ZteRollout.Benchmarks.Baseline;
using ZteRollout.Device.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Benchmarks;

internal sealed record DurableOptions(int Devices, int Seconds, int Concurrency, int Connections, int Rounds, string Database, string? PgConnection);

/// <summary>
/// The durable path: (a) check-ins that each create and store an offer (fresh devices, a one-stage campaign at 100 %),
/// (b) install reports through the whole sequence to SUCCEEDED, each one rpc with a durable ack, both against a bare
/// gRPC noop in the same run; (c) the rows per second that load stored against a bare upsert loop on the same
/// database. Every device checks in once and is reported on once, so the fleet is a supply the windows spend: a
/// window that runs out stops early and says so.
/// </summary>
internal static class DurableBenchmark
{
    private const string Model = "BENCH-DUR";
    private const string RunningVersion = "B1.0";
    private const string TargetVersion = "B2.0";
    private const string CampaignId = "bench-durable";
    private const int PackageBytes = 4096;
    // Two batches of 1000 in flight: enough to fill any commit batch, and few enough that on a slow store a call does not
    // wait in the queue past Orleans' 30 s response timeout (4 in flight timed out here at ~80 registrations/s).
    private const int RegisterBatchesInFlight = 2;
    private const int BareWritersPostgres = 4;
    private static readonly TimeSpan JitWarmUp = TimeSpan.FromSeconds(2);

    /// <summary>What a real agent reports for an install that works (tests/ZteRollout.DeviceAgent): one rpc each.</summary>
    private static readonly InstallStep[] InstallSequence =
        [InstallStep.Downloading, InstallStep.Downloaded, InstallStep.Verified, InstallStep.Installing, InstallStep.Installed, InstallStep.Succeeded];

    public static async Task<int> RunAsync(DurableOptions o, TextWriter output)
    {
        BoxInfo.Print(output);
        var postgresql = o.Database == "postgresql";
        output.WriteLine($"scenario=durable devices={o.Devices} seconds={o.Seconds} concurrency={o.Concurrency} connections={o.Connections} rounds={o.Rounds} " +
            $"database={o.Database}{(postgresql ? o.PgConnection is null ? " (throwaway server started by this run)" : " (given by --pg-connection)" : string.Empty)}");

        // A run id keeps device ids and the bare table apart from earlier runs when --pg-connection names a database
        // that outlives the run.
        var run = Guid.NewGuid().ToString("N")[..6];
        await using var postgres = postgresql && o.PgConnection is null ? await PostgresServer.StartAsync() : null;
        var nodeDatabase = postgres is null ? o.PgConnection : WithBenchmarkTimeouts(await postgres.CreateDatabaseAsync("zte_rollout"));
        var bareDatabase = postgres is null ? o.PgConnection : WithBenchmarkTimeouts(await postgres.CreateDatabaseAsync("bare_upsert"));
        string[] settings = postgresql ? ["--Rollout:Database:Kind=postgresql", $"--Rollout:Database:ConnectionString={nodeDatabase}"] : [];

        await using var node = await OrchestratorNode.StartAsync(settings);
        await using var noop = await NoopServer.StartAsync();

        var setup = Stopwatch.StartNew();
        var devices = await node.RegisterDevicesAsync($"du{run}", o.Devices, RegisterBatchesInFlight, Model, RunningVersion);
        output.WriteLine($"setup: registered {devices.Length} devices in {setup.Elapsed.TotalSeconds:F1} s ({devices.Length / setup.Elapsed.TotalSeconds:F0} devices/s, batches of 1000, {RegisterBatchesInFlight} in flight)");
        var package = await node.UploadFullPackageAsync(Model, TargetVersion, PackageBytes);
        await node.CreateAndStartCampaignAsync(CampaignId, Plan(package.PackageId));

        var deviceChannels = LoadRunner.OpenChannels(node.Address, o.Connections);
        var noopChannels = LoadRunner.OpenChannels(noop.Address, o.Connections);
        try
        {
            var fleet = new DurableFleet(devices, [.. deviceChannels.Select(c => new DeviceUpdate.DeviceUpdateClient(c))], o.Concurrency);
            var noopClients = noopChannels.Select(c => new Noop.NoopClient(c)).ToArray();
            var pings = devices.Select(d => CheckInBenchmark.Ping(d.CheckIn)).ToArray();
            long noopCursor = -1;
            Task NoopCallAsync(int caller)
            {
                var i = (int)((ulong)Interlocked.Increment(ref noopCursor) % (ulong)devices.Length);
                return noopClients[caller % noopClients.Length].PingAsync(pings[i], devices[i].Headers).ResponseAsync;
            }

            // Both durable paths and the noop run briefly before timing, so tiered JIT has compiled them alike. The
            // warm-up spends devices too: its offers feed the report windows like any other.
            await LoadRunner.RunForAsync(JitWarmUp, o.Concurrency, NoopCallAsync);
            await LoadRunner.RunWhileSuppliedAsync(JitWarmUp, o.Concurrency, fleet.CheckInForOfferAsync);
            await LoadRunner.RunWhileSuppliedAsync(JitWarmUp, o.Concurrency, fleet.ReportNextStepAsync);
            output.WriteLine($"warmup: {fleet.Offers} offers and {fleet.Reports} reports, not timed");

            var duration = TimeSpan.FromSeconds(o.Seconds);
            var noopRuns = new List<LoadResult>();
            var offerRuns = new List<LoadWindow>();
            var reportRuns = new List<LoadWindow>();
            long timedRows = 0;
            for (var round = 1; round <= o.Rounds; round++)
            {
                var noopBeforeOffers = await LoadRunner.RunForAsync(duration, o.Concurrency, NoopCallAsync);
                var rowsBefore = fleet.DurableWrites;
                var offers = await LoadRunner.RunWhileSuppliedAsync(duration, o.Concurrency, fleet.CheckInForOfferAsync);
                var noopBeforeReports = await LoadRunner.RunForAsync(duration, o.Concurrency, NoopCallAsync);
                var reports = await LoadRunner.RunWhileSuppliedAsync(duration, o.Concurrency, fleet.ReportNextStepAsync);

                // The noop window between makes no device write, so this is what the two timed windows wrote.
                timedRows += fleet.DurableWrites - rowsBefore;
                noopRuns.AddRange([noopBeforeOffers, noopBeforeReports]);
                offerRuns.Add(offers);
                reportRuns.Add(reports);
                output.WriteLine($"round {round}: noop {Describe(noopBeforeOffers)} | offer {Describe(offers)} | noop {Describe(noopBeforeReports)} | report {Describe(reports)}");
            }

            output.WriteLine(
                $"fleet: {fleet.CheckedIn} of {devices.Length} devices checked in ({fleet.Offers} got an offer, {fleet.NotOffered} did not), " +
                $"{fleet.Reports} reports acknowledged ({fleet.Duplicates} as duplicates), {fleet.Succeeded} devices reported through to SUCCEEDED");
            var counts = (await node.GetCampaignAsync(CampaignId)).Counts;
            output.WriteLine($"server: campaign counts offered={counts.Offered} in_progress={counts.InProgress} installed={counts.Installed} succeeded={counts.Succeeded} failed={counts.Failed} timed_out={counts.TimedOut}");

            var orchestratorRows = timedRows / offerRuns.Concat(reportRuns).Sum(w => w.Load.Elapsed.TotalSeconds);
            output.WriteLine($"bare: {BareUpsertLoop.RowsPerTransaction}-row upsert transactions of {BareUpsertLoop.PayloadBytes}-byte rows for {o.Seconds} s on the same database ...");
            var bare = postgresql
                ? await BareUpsertLoop.RunPostgresAsync(bareDatabase!, $"bare_device_{run}", devices.Length, duration, BareWritersPostgres)
                : await BareUpsertLoop.RunSqliteAsync(Path.Combine(node.DataDirectory, "bare-upsert.db"), devices.Length, duration);
            output.WriteLine($"bare: {bare.Rows} rows in {bare.Elapsed.TotalSeconds:F1} s, {bare.Settings}");

            var offerRps = LoadRunner.Median(offerRuns.Select(w => w.Load.CallsPerSecond));
            var reportRps = LoadRunner.Median(reportRuns.Select(w => w.Load.CallsPerSecond));
            var noopRps = LoadRunner.Median(noopRuns.Select(r => r.CallsPerSecond));
            output.WriteLine($"offer_rps={offerRps:F0}");
            output.WriteLine($"offer_p50_ms={LoadRunner.Median(offerRuns.Select(w => w.Load.P50Ms)):F2}");
            output.WriteLine($"offer_p99_ms={LoadRunner.Median(offerRuns.Select(w => w.Load.P99Ms)):F2}");
            output.WriteLine($"report_rps={reportRps:F0}");
            output.WriteLine($"report_p50_ms={LoadRunner.Median(reportRuns.Select(w => w.Load.P50Ms)):F2}");
            output.WriteLine($"report_p99_ms={LoadRunner.Median(reportRuns.Select(w => w.Load.P99Ms)):F2}");
            output.WriteLine($"noop_rps={noopRps:F0}");
            output.WriteLine($"offer_vs_noop_ratio={offerRps / noopRps:F4}");
            output.WriteLine($"report_vs_noop_ratio={reportRps / noopRps:F4}");
            output.WriteLine($"orchestrator_rows_per_s={orchestratorRows:F0} (rows = acknowledged durable device writes: one per offer and one per non-duplicate report in the timed windows)");
            output.WriteLine($"bare_rows_per_s={bare.RowsPerSecond:F0}");
            output.WriteLine($"storage_efficiency={orchestratorRows / bare.RowsPerSecond:F4}");

            var ranOut = offerRuns.Concat(reportRuns).Any(w => w.RanOut);
            if (ranOut)
            {
                output.WriteLine($"WARNING: a window ran out of devices before its {o.Seconds} s (marked 'ran out' above); its rate covers the time it ran. Register more devices (--devices).");
            }

            if (fleet.NotOffered > 0)
            {
                output.WriteLine($"WARNING: {fleet.NotOffered} check-ins of fresh devices got no offer; the offer rate counts every check-in.");
            }

            var errors = noopRuns.Sum(r => r.Errors) + offerRuns.Concat(reportRuns).Sum(w => w.Load.Errors);
            return errors > 0 || fleet.NotOffered > 0 || ranOut ? 1 : 0;
        }
        finally
        {
            foreach (var channel in deviceChannels.Concat(noopChannels))
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>The durable benchmark's PostgreSQL connection string: its group commits may wait longer than a test's.</summary>
    private static string WithBenchmarkTimeouts(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 15, CommandTimeout = 60 }.ConnectionString;

    /// <summary>Eligible by model; one stage at 100 % with no soak, no rate limit, retries to spare, a week to finish.</summary>
    private static CampaignPlan Plan(string packageId) => new()
    {
        Name = "durable benchmark",
        Targets = { new CampaignTarget { Model = Model, PackageId = packageId } },
        Eligibility = new Eligibility { Models = { Model } },
        InProgressTimeoutSeconds = 7 * 86400,
        Stages = { new Stage { Percent = 100 } },
        Retry = new RetryPolicy { MaxAttempts = 10 },
    };

    private static string Describe(LoadResult r) =>
        $"{r.CallsPerSecond:F0} rps p50 {r.P50Ms:F2} ms p99 {r.P99Ms:F2} ms ({r.Calls} calls, {r.Errors} errors)";

    private static string Describe(LoadWindow w) => Describe(w.Load) + (w.RanOut ? $" ran out after {w.Load.Elapsed.TotalSeconds:F1} s" : string.Empty);

    /// <summary>An offer being reported on: the next step to report and the id that step's report carries (kept for a retry).</summary>
    private sealed class InstallInProgress(BenchDevice device, string offerId)
    {
        public BenchDevice Device { get; } = device;

        public string OfferId { get; } = offerId;

        public int Step { get; set; }

        public string ReportId { get; set; } = Guid.NewGuid().ToString("N");
    }

    /// <summary>
    /// The fleet as a supply. Check-ins walk it with a cursor, so each device checks in once, fresh; a device that got
    /// an offer queues for reports; each report caller holds one device and reports its steps in order until it
    /// succeeded (a device left mid-sequence at a window's end carries on in the next window).
    /// </summary>
    private sealed class DurableFleet(BenchDevice[] devices, DeviceUpdate.DeviceUpdateClient[] clients, int concurrency)
    {
        private readonly ConcurrentQueue<InstallInProgress> _offered = new();
        private readonly InstallInProgress?[] _held = new InstallInProgress?[concurrency];
        private long _cursor = -1;
        private long _offers;
        private long _notOffered;
        private long _reports;
        private long _duplicates;
        private long _succeeded;

        public long CheckedIn => Math.Min(Interlocked.Read(ref _cursor) + 1, devices.Length);

        public long Offers => Interlocked.Read(ref _offers);

        public long NotOffered => Interlocked.Read(ref _notOffered);

        public long Reports => Interlocked.Read(ref _reports);

        public long Duplicates => Interlocked.Read(ref _duplicates);

        public long Succeeded => Interlocked.Read(ref _succeeded);

        /// <summary>Acknowledged writes of a device's state: one per offer made and one per report applied.</summary>
        public long DurableWrites => Offers + Reports - Duplicates;

        /// <summary>Checks in the next fresh device; false when none is left.</summary>
        public async Task<bool> CheckInForOfferAsync(int caller)
        {
            var index = Interlocked.Increment(ref _cursor);
            if (index >= devices.Length)
            {
                return false;
            }

            var device = devices[index];
            var response = await clients[caller % clients.Length].CheckInAsync(device.CheckIn, device.Headers);
            if (response.DecisionCase == CheckInResponse.DecisionOneofCase.Offer)
            {
                Interlocked.Increment(ref _offers);
                _offered.Enqueue(new InstallInProgress(device, response.Offer.OfferId));
            }
            else
            {
                Interlocked.Increment(ref _notOffered);
            }

            return true;
        }

        /// <summary>Reports the next install step of the caller's device (taking a new one when it has none); false when no offered device is left.</summary>
        public async Task<bool> ReportNextStepAsync(int caller)
        {
            if (_held[caller] is not { } install)
            {
                if (!_offered.TryDequeue(out install))
                {
                    return false;
                }

                _held[caller] = install;
            }

            var step = InstallSequence[install.Step];
            var response = await clients[caller % clients.Length].ReportAsync(new ReportRequest
            {
                DeviceId = install.Device.Id,
                OfferId = install.OfferId,
                ReportId = install.ReportId,
                Step = step,
                BytesDownloaded = step == InstallStep.Downloaded ? PackageBytes : 0UL,
                RunningVersion = step == InstallStep.Succeeded ? TargetVersion : string.Empty,
                ActiveSlot = step == InstallStep.Succeeded ? Slot.B : Slot.Unspecified,
            }, install.Device.Headers);

            Interlocked.Increment(ref _reports);
            if (response.Duplicate)
            {
                Interlocked.Increment(ref _duplicates);
            }

            install.Step++;
            install.ReportId = Guid.NewGuid().ToString("N");
            if (install.Step == InstallSequence.Length)
            {
                Interlocked.Increment(ref _succeeded);
                _held[caller] = null;
            }

            return true;
        }
    }
}
