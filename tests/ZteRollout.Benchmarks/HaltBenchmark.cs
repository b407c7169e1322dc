using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Shared;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Benchmarks;

/// <param name="SweepOffers">Offers that time out at once in the sweep trials.</param>
internal sealed record HaltOptions(int Devices, int Concurrency, int Connections, int Trials, int SweepOffers = 5000);

/// <summary>
/// How fast a halt stops new offers under full check-in load (DESIGN.md invariant 7). Each trial starts a fresh node
/// with fresh devices and runs a one-stage 100 % campaign. Odd trials ("bad build"): a threshold policy over devices
/// (failed for good ÷ offered, issue 9) and a build that fails on every device: reporters report FAILED for offered
/// devices as they come, while the plan's rate limit keeps the offers in flight few, so the policy fires as soon as
/// <c>min_completed</c> devices failed; every new offer made after that failure's report was acknowledged is timed.
/// Even trials ("sweep"): <see cref="HaltOptions.SweepOffers"/> offers pass their deadline at once (the rollout clock
/// jumps), the campaign's tick starts sweeping them and an SRE halts it at the same moment; the halt is timed from the
/// HaltCampaign call to its ack or the last new offer, whichever is later (a halt that waits behind the sweep shows).
/// The p99 is over both.
/// </summary>
internal static class HaltBenchmark
{
    private const string Model = "BENCH-HALT";
    private const string RunningVersion = "B1.0";
    private const string TargetVersion = "B2.0";
    private const string CampaignId = "bench-halt";
    private const double MaxFailureRate = 0.05;
    private const int MinCompleted = 50;
    private const int FailureReporters = 16;

    /// <summary>
    /// Offers a minute in the bad-build trials: at most 500 a second, so the ~16 reports a second per reporter keep
    /// the failed share of the offered devices far above the threshold (an unlimited load offers thousands a second,
    /// and a per-device policy rightly waits for them).
    /// </summary>
    private const int BadBuildOffersPerMinute = 30_000;
    private const int RegisterBatchesInFlight = 4;
    private static readonly TimeSpan LoadAfterBreach = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan TrialLimit = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan SweepWarmUp = TimeSpan.FromSeconds(1);

    public static async Task<int> RunAsync(HaltOptions o, TextWriter output)
    {
        BoxInfo.Print(output);
        output.WriteLine($"scenario=halt devices={o.Devices} concurrency={o.Concurrency} connections={o.Connections} trials={o.Trials} " +
            $"policy=threshold(max_failure_rate={MaxFailureRate}, min_completed={MinCompleted}, per device) retry_max_attempts=1 " +
            $"bad_build=every offered device fails, rate_limit={BadBuildOffersPerMinute}/min (odd trials) sweep_offers={o.SweepOffers} (even trials)");

        var trials = new List<TrialResult>();
        for (var trial = 1; trial <= o.Trials; trial++)
        {
            var result = trial % 2 == 0 ? await RunSweepTrialAsync(trial, o) : await RunTrialAsync(trial, o);
            trials.Add(result);
            output.WriteLine(result.Describe());
        }

        var latencies = trials.Select(t => t.HaltLatencyMs).Order().ToArray();
        output.WriteLine($"halt_latency_p99_ms={LoadRunner.Percentile(latencies, 0.99):F0}");
        output.WriteLine($"overexposed_devices={trials.Max(t => t.Overexposed)}");
        output.WriteLine($"halted_trials={trials.Count(t => t.State == CampaignState.Halted)}/{trials.Count}");
        return trials.All(t => t.State == CampaignState.Halted && t.CountsMatch && !t.ExhaustedBeforeEnd) ? 0 : 1;
    }

    private static async Task<TrialResult> RunTrialAsync(int trial, HaltOptions o)
    {
        using var limit = new CancellationTokenSource(TrialLimit);
        await using var node = await OrchestratorNode.StartAsync();
        var devices = await node.RegisterDevicesAsync($"h{trial}", o.Devices, RegisterBatchesInFlight, Model, RunningVersion);
        var package = await node.UploadFullPackageAsync(Model, TargetVersion, size: 4096);
        await node.CreateAndStartCampaignAsync(CampaignId, Plan(package.PackageId));

        var loadChannels = LoadRunner.OpenChannels(node.Address, o.Connections);
        using var reportChannel = GrpcChannel.ForAddress(node.Address);
        try
        {
            var reports = new DeviceUpdate.DeviceUpdateClient(reportChannel);
            var load = new CheckInLoad(devices, [.. loadChannels.Select(c => new DeviceUpdate.DeviceUpdateClient(c))], o.Concurrency);

            var (failures, ackAt, ackUtc) = await ReportFailuresUntilBreachAsync(reports, load.Offered, limit.Token);
            var remaining = LoadAfterBreach - Stopwatch.GetElapsedTime(ackAt);
            if (remaining > TimeSpan.Zero)
            {
                await Task.Delay(remaining, limit.Token);
            }

            await load.StopAsync();
            var campaign = await node.GetCampaignAsync(CampaignId);
            var haltedAt = campaign.Halt?.At?.ToDateTimeOffset();
            var afterAck = load.NewOffers.Where(n => n.At > ackAt).ToArray();

            // Where the late offers come from: decided before the campaign decided to halt (in flight, waiting on their own
            // write) or after it (the silo's snapshot had not caught up yet). The device's offer record says when it was decided.
            var decidedBeforeHalt = 0;
            var decidedAfterHaltMs = 0.0;
            foreach (var late in afterAck)
            {
                var view = await node.GetDeviceAsync(late.Device.Id);
                var record = view.CurrentOffer?.OfferId == late.OfferId ? view.CurrentOffer : view.History.FirstOrDefault(h => h.OfferId == late.OfferId);
                if (record?.OfferedAt?.ToDateTimeOffset() is { } offeredAt && haltedAt is { } halted)
                {
                    decidedBeforeHalt += offeredAt <= halted ? 1 : 0;
                    decidedAfterHaltMs = Math.Max(decidedAfterHaltMs, (offeredAt - halted).TotalMilliseconds);
                }
            }

            return new TrialResult(
                "bad build",
                trial,
                load.CallsPerSecond,
                load.Errors,
                load.NewOffers.Count(n => n.At <= ackAt),
                0,
                failures,
                haltedAt is { } at ? (at - ackUtc).TotalMilliseconds : null,
                afterAck.Length,
                decidedBeforeHalt,
                decidedAfterHaltMs,
                afterAck.Select(n => LoadRunner.TicksToMs(n.At - ackAt)).DefaultIfEmpty(0).Max(),
                campaign.State,
                campaign.Halt?.By ?? string.Empty,
                campaign.Counts.Succeeded == 0 && campaign.Counts.Failed == (ulong)failures,
                load.ExhaustedAt is { } exhausted && exhausted < ackAt + (long)(LoadAfterBreach.TotalSeconds * Stopwatch.Frequency))
            {
                HaltReason = campaign.Halt?.Reason,
            };
        }
        finally
        {
            foreach (var channel in loadChannels)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>
    /// An SRE halts the campaign while its tick sweeps <see cref="HaltOptions.SweepOffers"/> offers that timed out at
    /// once, under check-in load. The halt must neither wait for the sweep nor let offers through meanwhile.
    /// </summary>
    private static async Task<TrialResult> RunSweepTrialAsync(int trial, HaltOptions o)
    {
        using var limit = new CancellationTokenSource(TrialLimit);
        var clock = new JumpingClock();
        await using var node = await OrchestratorNode.StartAsync(configureServices: services => services.AddSingleton(new RolloutClock(clock)));
        var devices = await node.RegisterDevicesAsync($"h{trial}", o.Devices, RegisterBatchesInFlight, Model, RunningVersion);
        var overdue = await node.RegisterDevicesAsync($"s{trial}", o.SweepOffers, RegisterBatchesInFlight, Model, RunningVersion);
        var package = await node.UploadFullPackageAsync(Model, TargetVersion, size: 4096);

        // No halt policy: the timeouts (failures) must not halt the campaign by themselves; the SRE does. No rate limit:
        // every overdue device must get its offer before the clock jumps.
        var plan = Plan(package.PackageId);
        plan.Halt = new HaltPolicy();
        plan.RateLimit = null;
        await node.CreateAndStartCampaignAsync(CampaignId, plan);
        var admin = OrchestratorNode.Bearer(File.ReadAllText(Path.Combine(node.DataDirectory, "admin-api-key")).Trim());

        var loadChannels = LoadRunner.OpenChannels(node.Address, o.Connections);
        try
        {
            var clients = loadChannels.Select(c => new DeviceUpdate.DeviceUpdateClient(c)).ToArray();
            await Parallel.ForEachAsync(overdue, new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency, CancellationToken = limit.Token },
                async (device, ct) => await clients[0].CheckInAsync(device.CheckIn, device.Headers, cancellationToken: ct));
            clock.Jump(TimeSpan.FromSeconds(plan.InProgressTimeoutSeconds + 1));

            var load = new CheckInLoad(devices, clients, o.Concurrency);
            await Task.Delay(SweepWarmUp, limit.Token);
            var tick = node.Grains.Campaign(CampaignId).TickAsync();
            var callAt = Stopwatch.GetTimestamp();
            await node.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = CampaignId, Reason = "halt during a timeout sweep" },
                new CallOptions(admin, DateTime.UtcNow.AddMinutes(1), limit.Token));
            var ackAt = Stopwatch.GetTimestamp();
            var ackUtc = clock.GetUtcNow();
            var sweepRunningAtAck = !tick.IsCompleted;
            var remaining = LoadAfterBreach - Stopwatch.GetElapsedTime(ackAt);
            if (remaining > TimeSpan.Zero)
            {
                await Task.Delay(remaining, limit.Token);
            }

            await load.StopAsync();
            await tick;
            var campaign = await node.GetCampaignAsync(CampaignId);
            // Offers decided while the halt was being stored count toward its latency; those after its ack are overexposure.
            var afterCall = load.NewOffers.Where(n => n.At > callAt).ToArray();
            var lastEffect = Math.Max(ackAt, afterCall.Select(n => n.At).DefaultIfEmpty(ackAt).Max());
            return new TrialResult(
                "sweep",
                trial,
                load.CallsPerSecond,
                load.Errors,
                load.NewOffers.Count(n => n.At <= callAt),
                0,
                0,
                campaign.Halt?.At?.ToDateTimeOffset() is { } at ? (at - ackUtc).TotalMilliseconds : null,
                afterCall.Count(n => n.At > ackAt),
                0,
                0,
                LoadRunner.TicksToMs(lastEffect - callAt),
                campaign.State,
                campaign.Halt?.By ?? string.Empty,
                campaign.Counts.TimedOut == (ulong)o.SweepOffers,
                load.ExhaustedAt is { } exhausted && exhausted < ackAt + (long)(LoadAfterBreach.TotalSeconds * Stopwatch.Frequency))
            {
                HaltCallMs = LoadRunner.TicksToMs(ackAt - callAt),
                SweepRunningAtAck = sweepRunningAtAck,
            };
        }
        finally
        {
            foreach (var channel in loadChannels)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>
    /// Reports FAILED (<c>E_BAD_BUILD</c>, not retried) for offered devices, several at once, until <see cref="MinCompleted"/>
    /// failures are acknowledged: each ack means the failure is stored, so from that ack on the per-device threshold
    /// holds on the server (its halt reason shows the figures it judged). Reports in flight then finish and count.
    /// Returns every failure acknowledged and when the <see cref="MinCompleted"/>-th was.
    /// </summary>
    private static async Task<(int Failures, long AckAt, DateTimeOffset AckUtc)> ReportFailuresUntilBreachAsync(
        DeviceUpdate.DeviceUpdateClient reports, ChannelReader<OfferedDevice> offered, CancellationToken ct)
    {
        var failures = 0;
        long ackAt = 0;
        var ackUtc = DateTimeOffset.MinValue;

        // Reporters waiting for an offer stop at the breach (the halt ends the offers); reports under way finish.
        using var breached = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reporters = Enumerable.Range(0, FailureReporters).Select(async _ =>
        {
            while (!breached.IsCancellationRequested)
            {
                OfferedDevice device;
                try
                {
                    device = await offered.ReadAsync(breached.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    return;
                }

                await ReportAsync(reports, device, InstallStep.Failed, ct, errorCode: "E_BAD_BUILD");
                if (Interlocked.Increment(ref failures) == MinCompleted)
                {
                    ackAt = Stopwatch.GetTimestamp();
                    ackUtc = DateTimeOffset.UtcNow;
                    await breached.CancelAsync();
                }
            }
        });
        await Task.WhenAll(reporters);
        return (failures, ackAt, ackUtc);
    }

    private static Task<ReportResponse> ReportAsync(
        DeviceUpdate.DeviceUpdateClient reports, OfferedDevice device, InstallStep step, CancellationToken ct, string errorCode = "") =>
        reports.ReportAsync(new ReportRequest
        {
            DeviceId = device.Device.Id,
            OfferId = device.OfferId,
            ReportId = Guid.NewGuid().ToString("N"),
            Step = step,
            ErrorCode = errorCode,
            RunningVersion = step == InstallStep.Succeeded ? TargetVersion : string.Empty,
            ActiveSlot = step == InstallStep.Succeeded ? Slot.B : Slot.Unspecified,
        }, new CallOptions(device.Device.Headers, DateTime.UtcNow.AddMinutes(1), ct)).ResponseAsync;

    private static CampaignPlan Plan(string packageId) => new()
    {
        Name = "halt benchmark",
        Targets = { new CampaignTarget { Model = Model, PackageId = packageId } },
        Eligibility = new Eligibility { Models = { Model } },
        InProgressTimeoutSeconds = 86400,
        Stages = { new Stage { Percent = 100 } },
        Retry = new RetryPolicy { MaxAttempts = 1 },
        Halt = new HaltPolicy { Threshold = new ThresholdPolicy { MaxFailureRate = MaxFailureRate, MinCompleted = MinCompleted } },
        RateLimit = new RateLimit { MaxOffersPerMinute = BadBuildOffersPerMinute },
    };

    private sealed record OfferedDevice(BenchDevice Device, string OfferId);

    /// <summary>A check-in that returned an offer id not seen before, and when it came back (a Stopwatch timestamp).</summary>
    private sealed record NewOffer(long At, BenchDevice Device, string OfferId);

    private sealed record TrialResult(
        string Situation,
        int Trial,
        double CheckInRps,
        long CheckInErrors,
        int OffersBeforeAck,
        int Successes,
        int Failures,
        double? ServerHaltAfterAckMs,
        int Overexposed,
        int OverexposedDecidedBeforeHalt,
        double LastDecidedAfterHaltMs,
        double HaltLatencyMs,
        CampaignState State,
        string HaltedBy,
        bool CountsMatch,
        bool ExhaustedBeforeEnd)
    {
        /// <summary>Sweep trials: how long the HaltCampaign call took (it must not wait for the sweep).</summary>
        public double? HaltCallMs { get; init; }

        public bool? SweepRunningAtAck { get; init; }

        /// <summary>Bad-build trials: the server's halt reason, with the figures its policy judged.</summary>
        public string? HaltReason { get; init; }

        public string Describe() =>
            $"trial {Trial} ({Situation}): checkin_rps={CheckInRps:F0} checkin_errors={CheckInErrors} offers_before_ack={OffersBeforeAck} successes={Successes} failures={Failures} " +
            $"server_halt_at_minus_ack_ms={(ServerHaltAfterAckMs is { } ms ? ms.ToString("F0") : "none")} " +
            $"new_offers_after_ack={Overexposed} (decided_before_halt={OverexposedDecidedBeforeHalt}, last_decided_after_halt_ms={LastDecidedAfterHaltMs:F0}) halt_latency_ms={HaltLatencyMs:F0} state={State} by={HaltedBy} " +
            $"server_counts_match={CountsMatch}" +
            (HaltCallMs is { } call ? $" halt_call_ms={call:F0} sweep_running_at_ack={SweepRunningAtAck}" : string.Empty) +
            (HaltReason is { } reason ? $" halt_reason=\"{reason}\"" : string.Empty) +
            (ExhaustedBeforeEnd ? " WARNING: ran out of unoffered devices before the end" : string.Empty);
    }

    /// <summary>
    /// C callers checking in devices that hold no offer yet, back to back. A device that gets a new offer leaves the
    /// pool and goes to the reporter; one that gets none goes back to the pool, so the load never stops.
    /// </summary>
    private sealed class CheckInLoad
    {
        private readonly BenchDevice[] _devices;
        private readonly DeviceUpdate.DeviceUpdateClient[] _clients;
        private readonly ConcurrentQueue<int> _notOffered;
        private readonly ConcurrentDictionary<string, byte> _seenOffers = new(StringComparer.Ordinal);
        private readonly ConcurrentQueue<NewOffer> _newOffers = new();
        private readonly Channel<OfferedDevice> _offered = Channel.CreateUnbounded<OfferedDevice>();
        private readonly CancellationTokenSource _stopping = new();
        private readonly Task[] _callers;
        private readonly long _startedAt = Stopwatch.GetTimestamp();
        private long _calls;
        private long _errors;
        private long _exhaustedAt;
        private TimeSpan _elapsed;

        public CheckInLoad(BenchDevice[] devices, DeviceUpdate.DeviceUpdateClient[] clients, int concurrency)
        {
            _devices = devices;
            _clients = clients;
            _notOffered = new ConcurrentQueue<int>(Enumerable.Range(0, devices.Length));
            _callers = [.. Enumerable.Range(0, concurrency).Select(caller => Task.Run(() => RunCallerAsync(caller)))];
        }

        public ChannelReader<OfferedDevice> Offered => _offered.Reader;

        /// <summary>Every check-in that returned a not-yet-seen offer id, with when it came back.</summary>
        public IEnumerable<NewOffer> NewOffers => _newOffers;

        public long Errors => Interlocked.Read(ref _errors);

        /// <summary>When a caller first found no device left to check in, if ever.</summary>
        public long? ExhaustedAt => Interlocked.Read(ref _exhaustedAt) is var at and > 0 ? at : null;

        public double CallsPerSecond => Interlocked.Read(ref _calls) / _elapsed.TotalSeconds;

        /// <summary>Stops issuing check-ins and waits for those in flight (their offers still count).</summary>
        public async Task StopAsync()
        {
            await _stopping.CancelAsync();
            await Task.WhenAll(_callers);
            _elapsed = Stopwatch.GetElapsedTime(_startedAt);
            _stopping.Dispose();
        }

        private async Task RunCallerAsync(int caller)
        {
            var client = _clients[caller % _clients.Length];
            while (!_stopping.IsCancellationRequested)
            {
                if (!_notOffered.TryDequeue(out var index))
                {
                    Interlocked.CompareExchange(ref _exhaustedAt, Stopwatch.GetTimestamp(), 0);
                    await Task.Delay(1);
                    continue;
                }

                var device = _devices[index];
                CheckInResponse response;
                try
                {
                    response = await client.CheckInAsync(device.CheckIn, device.Headers);
                }
                catch (RpcException)
                {
                    Interlocked.Increment(ref _errors);
                    _notOffered.Enqueue(index);
                    continue;
                }

                var at = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref _calls);
                if (response.DecisionCase == CheckInResponse.DecisionOneofCase.Offer && _seenOffers.TryAdd(response.Offer.OfferId, 0))
                {
                    _newOffers.Enqueue(new NewOffer(at, device, response.Offer.OfferId));
                    _offered.Writer.TryWrite(new OfferedDevice(device, response.Offer.OfferId));
                }
                else
                {
                    _notOffered.Enqueue(index);
                }
            }
        }
    }

    /// <summary>The rollout clock of a sweep trial: real time, plus a jump that makes offers overdue at once.</summary>
    private sealed class JumpingClock : TimeProvider
    {
        private long _jumpTicks;

        public void Jump(TimeSpan by) => Interlocked.Add(ref _jumpTicks, by.Ticks);

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _jumpTicks));
    }
}
