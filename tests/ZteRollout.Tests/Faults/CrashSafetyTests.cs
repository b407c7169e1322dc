using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Xunit.Abstractions;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Tests.Infrastructure;
using Agent = ZteRollout.DeviceAgent.DeviceAgent;
using AdminDevice = ZteRollout.Admin.V1.Device;

namespace ZteRollout.Tests.Faults;

/// <summary>
/// Invariants 1–3 across a real crash: the embedded node runs as a child process and is killed with SIGKILL while
/// 1,000 reference agents report. Restarted on the same data directory it holds every report and offer the agents
/// were acknowledged, its campaign counts equal what its devices hold, and no device holds two offers.
/// </summary>
/// <remarks>Its own collection: it starts its own node process and data directory and shares nothing.</remarks>
[Collection(Name)]
public sealed class CrashSafetyTests(ITestOutputHelper output)
{
    public const string Name = "crash safety";

    private const int DeviceCount = 1000;
    private const int Concurrency = 64;
    private const int ReportAcksBeforeKill = 500;
    private const string Model = "CRASH";
    private const string SourceVersion = "C1.0";
    private const string TargetVersion = "C2.0";
    private const string CampaignId = "crash";
    private const string InstallWriteError = "E_INSTALL_WRITE";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CountsSettleTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Every 50th device fails its install (no retry budget), so failures are counted across the crash too.</summary>
    private static bool FailsInstall(int index) => index % 50 == 7;

    [Fact]
    public async Task EmbeddedNode_KilledWhileAgentsReport_KeepsEveryAcknowledgedReportCountedOnce_AndOneOfferPerDevice()
    {
        var work = TestPaths.NewTempDirectory("crash");
        var data = Path.Combine(work, "data");
        var clock = Stopwatch.StartNew();
        NodeProcess? node = null;
        try
        {
            // Arrange: 1,000 devices, one small package, a campaign at 100 % with no retries.
            node = await NodeProcess.StartAsync(data, StartTimeout);
            var package = await Scenario.UploadAsync(node, Scenario.Full(Model, TargetVersion), Scenario.RandomBytes(8 * 1024, seed: 71));
            await Scenario.StartCampaignAsync(node, CampaignId, Model, package.PackageId);
            var ids = Enumerable.Range(0, DeviceCount).Select(i => $"crash-{i:D4}").ToArray();
            var tokens = await Scenario.RegisterAsync(node, ids);
            var publicKey = (await node.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), node.AdminHeaders)).PublicKeyPem;
            var fleet = ids.Select((id, i) => new FleetDevice(
                id, tokens[id], SimulatedDevice.Create(Path.Combine(work, "devices", id), SourceVersion),
                new AgentBehavior { Model = Model, FailInstall = FailsInstall(i) })).ToList();
            var heard = new AcknowledgementRecorder(ReportAcksBeforeKill);

            // Act: the agents run; after the threshold of acknowledged reports the node is killed without warning.
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: node serving on {node.Address}, {DeviceCount} devices registered, campaign running");
            var acksAtKill = await RunAgentsUntilKilledAsync(node, publicKey, fleet, heard);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: SIGKILL once {ReportAcksBeforeKill} reports were acknowledged; "
                + $"{acksAtKill} had been when it died, {heard.Devices} devices had heard an offer");
            await node.DisposeAsync();
            node = null;
            node = await NodeProcess.StartAsync(data, StartTimeout);

            // Assert: everything acknowledged is stored, once, under the one offer each device heard of.
            var held = await DevicesAsync(node, ids);
            var lost = Violations(held, heard.All);
            Assert.True(lost.Count == 0, $"{lost.Count} acknowledged answers not held after the restart:\n{string.Join('\n', lost.Take(50))}");
            var expected = Figures.Of(held.Values);
            var (counts, settled) = await SettledCountsAsync(node, expected);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: after restart devices hold {expected}; campaign counts {counts} (settled in {settled.TotalSeconds:0.0} s)");
            output.WriteLine($"  devices whose stored state is past the furthest answer they heard (ack lost in the crash): {AheadOfTheirAcks(held, heard.All)}");
            Assert.Equal(expected, counts);

            // Then the fleet finishes on the restarted node: every device ends once, as its behavior says.
            await FinishAsync(node, fleet, held, heard);
            var final = await DevicesAsync(node, ids);
            var wrong = Violations(final, heard.All);
            Assert.True(wrong.Count == 0, $"{wrong.Count} acknowledged answers not held at the end:\n{string.Join('\n', wrong.Take(50))}");
            var failing = (ulong)fleet.Count(d => d.Behavior.FailInstall);
            var tally = new Figures(DeviceCount, 0, 0, DeviceCount - failing, failing, 0, 0, 0);
            Assert.Equal(tally, Figures.Of(final.Values));
            var (finalCounts, finalSettled) = await SettledCountsAsync(node, tally);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: final client tally {tally}; campaign counts {finalCounts} (settled in {finalSettled.TotalSeconds:0.0} s); {heard.ReportAcks} report acks in all");
            Assert.Equal(tally, finalCounts);
        }
        finally
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }

            TestPaths.TryDelete(work);
        }
    }

    /// <summary>
    /// Runs one reference agent per device, <see cref="Concurrency"/> at a time, until the recorder has seen its
    /// threshold of acknowledged reports; then kills the node and stops the agents. Returns the acks heard at the kill.
    /// </summary>
    private static async Task<int> RunAgentsUntilKilledAsync(NodeProcess node, string publicKey, List<FleetDevice> fleet, AcknowledgementRecorder heard)
    {
        var invoker = node.Channel.Intercept(heard);
        var killed = 0;
        var errors = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var agents = Parallel.ForEachAsync(fleet, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = stop.Token }, async (d, ct) =>
        {
            try
            {
                await new Agent(invoker, d.Id, d.Token, publicKey, d.Device, d.Behavior).RunOnceAsync(ct);
            }
            catch (Exception e) when (Volatile.Read(ref killed) == 0)
            {
                errors.Enqueue($"{d.Id}: {e.GetType().Name}: {e.Message}");
            }
            catch (Exception)
            {
                // The node is gone: calls in flight fail and the agent stops, as a device would until the next check-in.
            }
        });

        var first = await Task.WhenAny(heard.Threshold, agents);
        Assert.True(first == heard.Threshold, $"the fleet finished before {ReportAcksBeforeKill} reports were acknowledged");
        Volatile.Write(ref killed, 1);
        node.Kill();
        var acksAtKill = heard.ReportAcks;
        await stop.CancelAsync();
        try
        {
            await agents;
        }
        catch (OperationCanceledException)
        {
            // Stopped before every device had its turn.
        }

        Assert.True(errors.IsEmpty, $"agents failed before the kill:\n{string.Join('\n', errors.Take(20))}");
        return acksAtKill;
    }

    /// <summary>
    /// Every device checks in again and reports the steps its stored offer has not reached yet (the reference agent
    /// starts an offer from the beginning, which a server past DOWNLOADING rightly refuses), through the recorder.
    /// </summary>
    private static async Task FinishAsync(NodeProcess node, List<FleetDevice> fleet, Dictionary<string, AdminDevice> held, AcknowledgementRecorder heard)
    {
        var client = new DeviceUpdate.DeviceUpdateClient(node.Channel.Intercept(heard));
        await Parallel.ForEachAsync(fleet, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (d, ct) =>
        {
            var headers = EmbeddedNodeHost.Bearer(d.Token);
            var facts = Scenario.Facts(Model, d.Device.CurrentVersion);
            facts.ActiveSlot = d.Device.ActiveSlot;
            var checkIn = await client.CheckInAsync(new CheckInRequest { DeviceId = d.Id, Facts = facts }, headers, Deadline(), ct);
            if (checkIn.DecisionCase != CheckInResponse.DecisionOneofCase.Offer)
            {
                return;
            }

            var offerId = checkIn.Offer.OfferId;
            var stored = held[d.Id].CurrentOffer is { } o && o.OfferId == offerId ? o.Status : OfferStatus.Offered;
            InstallStep[] steps = d.Behavior.FailInstall
                ? [InstallStep.Downloading, InstallStep.Downloaded, InstallStep.Verified, InstallStep.Installing, InstallStep.Failed]
                : [InstallStep.Downloading, InstallStep.Downloaded, InstallStep.Verified, InstallStep.Installing, InstallStep.Installed, InstallStep.Succeeded];
            foreach (var step in steps.Where(s => Rank(StatusAfter(s)) > Rank(stored)))
            {
                await client.ReportAsync(new ReportRequest
                {
                    DeviceId = d.Id,
                    OfferId = offerId,
                    ReportId = Guid.NewGuid().ToString("N"),
                    Step = step,
                    ErrorCode = step == InstallStep.Failed ? InstallWriteError : string.Empty,
                    RunningVersion = step == InstallStep.Succeeded ? TargetVersion : string.Empty,
                    ActiveSlot = step == InstallStep.Succeeded ? Slot.B : Slot.Unspecified,
                }, headers, Deadline(), ct);
            }
        });
    }

    /// <summary>
    /// What the server fails to hold of what it acknowledged: per device, the offer of every answer it heard must be the
    /// one offer it holds, at or past the furthest status it was told; and no device holds two offers of the campaign.
    /// </summary>
    private static List<string> Violations(Dictionary<string, AdminDevice> held, IReadOnlyCollection<Acknowledged> heard)
    {
        var problems = new List<string>();
        foreach (var answers in heard.GroupBy(a => a.DeviceId))
        {
            var offers = answers.Select(a => a.OfferId).Distinct().ToList();
            if (offers.Count > 1)
            {
                problems.Add($"{answers.Key}: heard of {offers.Count} offers ({string.Join(", ", offers)})");
            }

            var furthest = Furthest(answers);
            var offer = held[answers.Key].CurrentOffer;
            if (offer is null || offer.OfferId != furthest.OfferId || !Reaches(offer.Status, furthest.Status))
            {
                problems.Add($"{answers.Key}: acknowledged {furthest.What} -> {furthest.Status} of offer {furthest.OfferId}; "
                    + $"the server holds {(offer is null ? "no offer" : $"{offer.Status} of offer {offer.OfferId}")}");
            }
        }

        foreach (var device in held.Values)
        {
            problems.AddRange(device.History.Where(h => h.CampaignId == CampaignId).Select(h =>
                $"{device.DeviceId}: holds offer {device.CurrentOffer.OfferId} and had offer {h.OfferId} ({h.Status}) of the same campaign"));
        }

        return problems;
    }

    private static int AheadOfTheirAcks(Dictionary<string, AdminDevice> held, IReadOnlyCollection<Acknowledged> heard) =>
        heard.GroupBy(a => a.DeviceId).Count(g => held[g.Key].CurrentOffer is { } o && Rank(o.Status) > Rank(Furthest(g).Status));

    /// <summary>The answer with the furthest status a device heard (a later check-in re-offering the same offer says less).</summary>
    private static Acknowledged Furthest(IEnumerable<Acknowledged> answers) => answers.MaxBy(a => Rank(a.Status))!;

    /// <summary>A status reached: an acknowledged final status exactly; an open one, or any status past it.</summary>
    private static bool Reaches(OfferStatus stored, OfferStatus acknowledged) =>
        Rank(acknowledged) == Rank(OfferStatus.Succeeded) ? stored == acknowledged : Rank(stored) >= Rank(acknowledged);

    /// <summary>Lifecycle order: OFFERED &lt; DOWNLOADING &lt; … &lt; INSTALLED &lt; any final status.</summary>
    private static int Rank(OfferStatus status) => status switch
    {
        OfferStatus.Offered => 1,
        OfferStatus.Downloading => 2,
        OfferStatus.Downloaded => 3,
        OfferStatus.Verified => 4,
        OfferStatus.Installing => 5,
        OfferStatus.Installed => 6,
        OfferStatus.Unspecified => 0,
        _ => 7,
    };

    private static OfferStatus StatusAfter(InstallStep step) => step switch
    {
        InstallStep.Downloading => OfferStatus.Downloading,
        InstallStep.Downloaded => OfferStatus.Downloaded,
        InstallStep.Verified => OfferStatus.Verified,
        InstallStep.Installing => OfferStatus.Installing,
        InstallStep.Installed => OfferStatus.Installed,
        InstallStep.Succeeded => OfferStatus.Succeeded,
        InstallStep.Failed => OfferStatus.Failed,
        InstallStep.RolledBack => OfferStatus.RolledBack,
        _ => OfferStatus.Unspecified,
    };

    private static async Task<Dictionary<string, AdminDevice>> DevicesAsync(NodeProcess node, IEnumerable<string> ids)
    {
        var devices = await Task.WhenAll(ids.Select(id =>
            node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = id }, node.AdminHeaders, Deadline()).ResponseAsync));
        return devices.ToDictionary(d => d.DeviceId);
    }

    /// <summary>The campaign's counts once they equal <paramref name="expected"/>, or as they are when the wait is over.</summary>
    private static async Task<(Figures Counts, TimeSpan Waited)> SettledCountsAsync(NodeProcess node, Figures expected)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var campaign = await node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = CampaignId }, node.AdminHeaders, Deadline());
            var counts = Figures.Of(campaign.Counts);
            if (counts == expected || clock.Elapsed > CountsSettleTimeout)
            {
                return (counts, clock.Elapsed);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }
    }

    private static DateTime Deadline() => DateTime.UtcNow + CallTimeout;

    private sealed record FleetDevice(string Id, string Token, SimulatedDevice Device, AgentBehavior Behavior);

    /// <summary>One answer a device heard: an offer at check-in, or an acknowledged report and the status it returned.</summary>
    private sealed record Acknowledged(string DeviceId, string OfferId, string What, OfferStatus Status);

    /// <summary>A campaign's counts, or the same figures computed from what its devices hold.</summary>
    private sealed record Figures(ulong Offered, ulong InProgress, ulong Installed, ulong Succeeded, ulong Failed, ulong RolledBack, ulong TimedOut, ulong Canceled)
    {
        public static Figures Of(CampaignCounts c) =>
            new(c.Offered, c.InProgress, c.Installed, c.Succeeded, c.Failed, c.RolledBack, c.TimedOut, c.Canceled);

        public static Figures Of(IEnumerable<AdminDevice> devices)
        {
            var statuses = devices.Select(d => d.CurrentOffer).Where(o => o is not null && o.CampaignId == CampaignId).Select(o => o.Status).ToList();
            ulong Count(Func<OfferStatus, bool> match) => (ulong)statuses.Count(match);
            return new Figures(
                Count(_ => true),
                Count(s => s is OfferStatus.Downloading or OfferStatus.Downloaded or OfferStatus.Verified or OfferStatus.Installing),
                Count(s => s == OfferStatus.Installed),
                Count(s => s == OfferStatus.Succeeded),
                Count(s => s == OfferStatus.Failed),
                Count(s => s == OfferStatus.RolledBack),
                Count(s => s == OfferStatus.TimedOut),
                Count(s => s == OfferStatus.Canceled));
        }
    }

    /// <summary>
    /// Records, on the client, every answer the server gave that a device may rely on: offers at check-in and
    /// acknowledged reports. Calls that failed (the node died under them) are not answers and are not recorded.
    /// </summary>
    private sealed class AcknowledgementRecorder(int reportAcksThreshold) : Interceptor
    {
        private readonly ConcurrentQueue<Acknowledged> _answers = new();
        private readonly ConcurrentDictionary<string, byte> _offered = new();
        private readonly TaskCompletionSource _threshold = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _reportAcks;

        /// <summary>Completes when <c>reportAcksThreshold</c> reports have been acknowledged.</summary>
        public Task Threshold => _threshold.Task;

        public int ReportAcks => Volatile.Read(ref _reportAcks);

        public int Devices => _offered.Count;

        /// <summary>In the order heard; one device's calls are sequential, so its answers are in its own order.</summary>
        public IReadOnlyCollection<Acknowledged> All => [.. _answers];

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
            TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(request, context);
            return new AsyncUnaryCall<TResponse>(RecordAsync(request, call.ResponseAsync), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        private async Task<TResponse> RecordAsync<TRequest, TResponse>(TRequest request, Task<TResponse> response)
        {
            var answer = await response;
            switch (request, answer)
            {
                case (CheckInRequest checkIn, CheckInResponse { DecisionCase: CheckInResponse.DecisionOneofCase.Offer } offered):
                    // A returned offer is stored before it is returned: at least OFFERED.
                    _offered.TryAdd(checkIn.DeviceId, 0);
                    _answers.Enqueue(new Acknowledged(checkIn.DeviceId, offered.Offer.OfferId, "check-in", OfferStatus.Offered));
                    break;
                case (ReportRequest report, ReportResponse acked):
                    _answers.Enqueue(new Acknowledged(report.DeviceId, report.OfferId, $"report {report.Step}{(acked.Duplicate ? " (duplicate)" : "")}", acked.Status));
                    if (Interlocked.Increment(ref _reportAcks) == reportAcksThreshold)
                    {
                        _threshold.TrySetResult();
                    }

                    break;
            }

            return answer;
        }
    }
}
