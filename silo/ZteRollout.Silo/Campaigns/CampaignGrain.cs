using ZteRollout.Shared.Telemetry;
using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Extensions.Logging;
using ZteRollout.Shared;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Silo.Campaigns;

/// <summary>
/// A campaign: plan, lifecycle, stage, gates, halt decisions and audit log. Check-ins never reach it; its stats
/// shards send it their summaries after each change, and it judges the halt policy on every one.
/// Changes run one at a time in the grain's turn and are stored before they are published or acknowledged; reads
/// (<see cref="GetAsync"/>, <see cref="GetLatestViewAsync"/>) and the tick's bulk work are interleaved and see only
/// committed state, so a halt never waits behind a viewer or a timeout sweep (docs/design.md, "Halt path").
/// </summary>
public sealed class CampaignGrain(
    [PersistentState("campaign", RolloutStorage.Hot)] IPersistentState<CampaignGrainState> state,
    RolloutClock clock,
    ILogger<CampaignGrain> logger) : Grain, ICampaignGrain, IRemindable
{
    private const string TickReminder = "tick";
    private const int RequestsKept = 64;
    private const int ShardsSweptAtOnce = 4;
    private static readonly TimeSpan TickPeriod = TimeSpan.FromMinutes(1);
    private readonly CampaignFigures _figures = new();

    // What storage holds: reads and views come from it, never from a change still being written.
    private CampaignGrainState _committed = new();
    private CampaignView? _latestView;
    private bool _tickChecked;

    private string CampaignId => GrainKeys.CampaignIdOf(this.GetPrimaryKeyString());

    private ICampaignDirectoryGrain Directory => GrainFactory.GetGrain<ICampaignDirectoryGrain>(0);

    private CampaignGrainState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _committed = S.Copy();
        if (S.Plan is not null && IsLive(S.State))
        {
            await RefreshSummariesAsync();
        }
    }

    public async Task<CampaignView> CreateAsync(CampaignPlan plan, string actor, string? requestId = null)
    {
        if (S.Plan is not null)
        {
            if (IsReplay(requestId, "create"))
            {
                await PublishAsync();
                return View(unchanged: true);
            }

            throw RolloutException.AlreadyExists($"campaign '{CampaignId}' already exists (state {Name(S.State)})");
        }

        var catalog = GrainFactory.GetGrain<IPackageCatalogGrain>(0);
        var packages = new Dictionary<string, PackageRecord?>();
        foreach (var target in plan.Targets.IsDefault ? [] : plan.Targets)
        {
            packages[target.PackageId] = string.IsNullOrEmpty(target.PackageId) ? null : await catalog.GetAsync(target.PackageId);
        }

        var problems = CampaignPlanValidator.Validate(plan, id => packages.GetValueOrDefault(id));
        if (problems.Count > 0)
        {
            throw RolloutException.Invalid(problems);
        }

        S.Plan = plan;
        S.CreatedAt = clock.UtcNow;
        await TransitionAsync(CampaignState.Draft, actor, "create", string.Empty, requestId);
        await PublishAsync();
        return View();
    }

    public async Task<CampaignView> StartAsync(string actor, string reason, string? requestId = null)
    {
        RequirePlan();
        var unchanged = IsReplay(requestId, "start") || S.State == CampaignState.Running;
        if (!unchanged)
        {
            Require("start", CampaignState.Draft);
            var now = clock.UtcNow;
            S.StartedAt = now;
            S.CurrentStage = 0;
            S.StageStartedAt = [now];
            await TransitionAsync(CampaignState.Running, actor, "start", reason, requestId);
        }

        // Every start ends with the tick registered, so a start whose registration failed is retried into a campaign
        // that has its soak, gates, timeouts and completion (registering again is harmless).
        if (S.State == CampaignState.Running)
        {
            await this.RegisterOrUpdateReminder(TickReminder, TickPeriod, TickPeriod);
            _tickChecked = true;
        }

        await PublishAsync();
        return View(unchanged);
    }

    public async Task<CampaignView> PauseAsync(string actor, string reason, string? requestId = null)
    {
        RequirePlan();
        var unchanged = IsReplay(requestId, "pause") || S.State == CampaignState.Paused;
        if (!unchanged)
        {
            Require("pause", CampaignState.Running);
            await TransitionAsync(CampaignState.Paused, actor, "pause", reason, requestId);
        }

        // A repeat publishes again: the pause may be stored while its publication failed.
        await PublishAsync();
        return View(unchanged);
    }

    public async Task<CampaignView> ResumeAsync(string actor, string reason, bool mayResumeHalted, string? requestId = null)
    {
        RequirePlan();
        if (IsReplay(requestId, "resume"))
        {
            await PublishAsync();
            return View(unchanged: true);
        }

        if (S.State == CampaignState.Halted && !mayResumeHalted)
        {
            throw RolloutException.PermissionDenied($"campaign '{CampaignId}' is HALTED; only an SRE may resume a halted campaign");
        }

        Require("resume", CampaignState.Paused, CampaignState.Halted);
        if (S.State == CampaignState.Halted)
        {
            if (S.Plan!.HaltScope == HaltScope.Cohort)
            {
                OpenCohortWindow(await CohortStageCountsAsync());
            }
            else
            {
                S.HaltBaselines = [.. _figures.Outcomes(S.Plan!.Stages.Length).Select(o => o.Baseline())];
            }
        }

        S.Halt = null;
        await TransitionAsync(CampaignState.Running, actor, "resume", reason, requestId);
        await PublishAsync();
        return View();
    }

    public async Task<CampaignView> AdvanceAsync(string actor, string reason, int? fromStage = null, string? requestId = null)
    {
        var plan = RequirePlan();
        if (IsReplay(requestId, "advance"))
        {
            await PublishAsync();
            return View(unchanged: true);
        }

        Require("advance", CampaignState.Running);
        if (fromStage is { } from && from != S.CurrentStage)
        {
            // Compare-and-set: a retried or concurrent advance must not skip a stage.
            throw RolloutException.FailedPrecondition(
                $"campaign '{CampaignId}' is at stage {S.CurrentStage + 1} of {plan.Stages.Length} (current_stage {S.CurrentStage}); this advance is from current_stage {from}");
        }

        await AdvanceOrCompleteAsync(actor, reason, figures: string.Empty, requestId);
        return View();
    }

    public async Task<CampaignView> HaltAsync(string actor, string reason, string? requestId = null)
    {
        RequirePlan();
        if (string.IsNullOrWhiteSpace(reason))
        {
            throw RolloutException.InvalidField("reason", "a halt needs a reason");
        }

        var unchanged = IsReplay(requestId, "halt") || S.State == CampaignState.Halted;
        if (unchanged)
        {
            // A repeat publishes again (and needs no package lookup): the halt may be stored while its publication failed.
            await PublishAsync();
        }
        else
        {
            Require("halt", CampaignState.Running, CampaignState.Paused);
            await HaltInternalAsync(actor, reason, Figures(), requestId);
        }

        return View(unchanged);
    }

    public async Task<CampaignView> LiftCohortHaltAsync(string dimension, string value, string actor, string reason, string? requestId = null)
    {
        RequirePlan();
        if (!CohortHalting.IsDimension(dimension))
        {
            throw RolloutException.InvalidField("dimension", $"'{dimension}' is not a cohort dimension (model, hardware_revision, region, carrier, source_version)");
        }

        if (string.IsNullOrWhiteSpace(reason))
        {
            throw RolloutException.InvalidField("reason", "lifting a cohort halt needs a reason");
        }

        var cohort = new HaltedCohort(dimension, value);
        if (IsReplay(requestId, "lift cohort halt"))
        {
            await PublishAsync();
            return View(unchanged: true);
        }

        var halted = S.HaltedCohorts.FindIndex(h => h.Cohort == cohort);
        if (halted < 0)
        {
            var known = S.HaltedCohorts.Count == 0 ? "none" : string.Join(", ", S.HaltedCohorts.Select(h => h.Cohort));
            throw RolloutException.NotFound($"cohort {cohort} is not halted in campaign '{CampaignId}' (halted cohorts: {known})");
        }

        Require("lift a cohort halt", CampaignState.Running, CampaignState.Paused, CampaignState.Halted);
        S.HaltedCohorts.RemoveAt(halted);

        // The cohort's devices come back into the judged window: a new window, like a resume, spends another α.
        OpenCohortWindow(await CohortStageCountsAsync());
        await TransitionAsync(S.State, actor, $"lift cohort halt {cohort}", reason, requestId, requestAction: "lift cohort halt");
        await PublishAsync();
        return View();
    }

    public async Task<CampaignView> CancelAsync(string actor, string reason, string? requestId = null)
    {
        RequirePlan();
        var unchanged = IsReplay(requestId, "cancel") || S.State == CampaignState.Canceled;
        if (!unchanged)
        {
            Require("cancel", CampaignState.Draft, CampaignState.Running, CampaignState.Paused, CampaignState.Halted);
            await TransitionAsync(CampaignState.Canceled, actor, "cancel", reason, requestId);
        }

        await PublishAsync();

        // Only once published: until then the tick is what republishes it.
        await StopTickingAsync();
        return View(unchanged);
    }

    public async Task<CampaignView> GetAsync()
    {
        RequireCommittedPlan();
        if (_committed.State != CampaignState.Draft)
        {
            // Shards push summaries without waiting; a read pulls them too, so it shows every outcome stored before it.
            await RefreshSummariesAsync();
        }

        return View();
    }

    public Task<CampaignView> GetLatestViewAsync()
    {
        RequireCommittedPlan();
        return Task.FromResult(View());
    }

    public async Task OnShardSummaryAsync(ShardSummary summary)
    {
        if (!_figures.Take(summary))
        {
            return;
        }

        _latestView = null;
        if (S.State == CampaignState.Running)
        {
            await EvaluateAsync();
        }
    }

    public async Task TickAsync()
    {
        // Interleaved: the sweep and the pull wait on shards and devices (minutes when thousands of offers time out at
        // once) without holding the campaign's turn; they touch nothing but the figures.
        var committed = _committed;
        if (committed.Plan is not null && IsLive(committed.State))
        {
            // Offers past their deadline time out even when their devices never come back; a paused or halted
            // campaign's in-flight offers still time out and count.
            // A few shards at a time (each sweeps in small waves), so the sweep never floods the storage writer.
            var now = clock.UtcNow;
            foreach (var shards in Enumerable.Range(0, StatsSharding.ShardCount).Chunk(ShardsSweptAtOnce))
            {
                await Task.WhenAll(shards.Select(i => Shard(i).SweepTimeoutsAsync(now)));
            }

            await RefreshSummariesAsync();
        }

        // The decisions change state, so they take the campaign's turn like any other change.
        await this.AsReference<ICampaignGrain>().CompleteTickAsync();
    }

    public async Task CompleteTickAsync()
    {
        if (S.Plan is null)
        {
            return;
        }

        await ReconcilePublicationAsync();
        if (S.State == CampaignState.Running)
        {
            await EvaluateAsync();
        }
    }

    public async Task ReconcileAsync()
    {
        if (S.Plan is null)
        {
            return;
        }

        await ReconcilePublicationAsync();
        if (!_tickChecked && IsLive(S.State))
        {
            // Once per activation: a live campaign whose tick was lost gets it back.
            if (await this.GetReminder(TickReminder) is null)
            {
                logger.LogWarning("Campaign {Campaign} is {State} without its tick; registering it", CampaignId, Name(S.State));
                await this.RegisterOrUpdateReminder(TickReminder, TickPeriod, TickPeriod);
            }

            _tickChecked = true;
        }
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // The tick runs as its own (interleaved) call: awaiting it here would hold the campaign's turn for the sweep.
        _ = TickInBackgroundAsync();
        return Task.CompletedTask;
    }

    public static string Name(CampaignState s) => s.ToString().ToUpperInvariant();

    private static bool IsLive(CampaignState s) => s is CampaignState.Running or CampaignState.Paused or CampaignState.Halted;

    /// <summary>
    /// Each stored change of the campaign adds an audit entry, so their number orders its publications: the directory
    /// keeps the newest it recorded and ignores an older one.
    /// </summary>
    private static long RevisionOf(CampaignGrainState s) => s.Audit.Count;

    private async Task TickInBackgroundAsync()
    {
        try
        {
            await this.AsReference<ICampaignGrain>().TickAsync();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Campaign {Campaign}: tick failed; the next one retries", CampaignId);
        }
    }

    private ICampaignStatsGrain Shard(int i) => GrainFactory.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(CampaignId, i));

    private CampaignPlan RequirePlan() =>
        S.Plan ?? throw RolloutException.NotFound($"campaign '{CampaignId}' does not exist");

    private void RequireCommittedPlan()
    {
        if (_committed.Plan is null)
        {
            throw RolloutException.NotFound($"campaign '{CampaignId}' does not exist");
        }
    }

    private void Require(string action, params CampaignState[] allowed)
    {
        if (!allowed.Contains(S.State))
        {
            throw RolloutException.FailedPrecondition(
                $"campaign '{CampaignId}' is {Name(S.State)}; {action} needs {string.Join(" or ", allowed.Select(Name))}");
        }
    }

    /// <summary>
    /// Whether the call's request id was applied before (by the same kind of call): its retry is then a no-op. The
    /// same id for a different call is a client bug, refused naming the field.
    /// </summary>
    private bool IsReplay(string? requestId, string action)
    {
        if (requestId is null || S.Requests.Find(r => r.RequestId == requestId) is not { } applied)
        {
            return false;
        }

        return applied.Action == action
            ? true
            : throw RolloutException.InvalidField("request_id", $"'{requestId}' already named a {applied.Action} of campaign '{CampaignId}', not a {action}");
    }

    private async Task TransitionAsync(CampaignState next, string actor, string action, string reason, string? requestId, string figures = "", string? requestAction = null)
    {
        var now = clock.UtcNow;
        S.State = next;
        S.Audit.Add(new AuditEntry(now, actor, action, reason) { Figures = figures });
        if (requestId is not null)
        {
            S.Requests.Add(new AppliedRequest(requestId, requestAction ?? action, now));
            if (S.Requests.Count > RequestsKept)
            {
                S.Requests.RemoveRange(0, S.Requests.Count - RequestsKept);
            }
        }

        await CommitAsync();
    }

    /// <summary>
    /// Stores the working state; only then is it what reads see. A failed write puts back what storage holds, so
    /// memory never keeps a change that was not stored (the storage failure filter also drops the activation).
    /// </summary>
    private async Task CommitAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State = _committed.Copy();
            throw;
        }

        _committed = S.Copy();
        _latestView = null;
    }

    /// <summary>Halt policy first (a failure spike must stop the rollout before a gate could widen it), then the gate.</summary>
    private async Task EvaluateAsync()
    {
        var plan = S.Plan!;
        var verdict = HaltEvaluation.Evaluate(plan.Halt, _figures.HaltWindow(S));
        if (verdict.ShouldHalt)
        {
            if (plan.HaltScope != HaltScope.Cohort || !await TryHaltCohortAsync(verdict))
            {
                await HaltInternalAsync("policy:" + verdict.Policy, verdict.Explanation, Figures());
            }

            return;
        }

        if (!plan.AutoAdvance)
        {
            return;
        }

        var gate = _figures.Gate(S, clock.UtcNow);
        if (gate.Met && (S.CurrentStage < plan.Stages.Length - 1 || _figures.NothingPending(S)))
        {
            await AdvanceOrCompleteAsync("policy:gate", gate.Explanation, Figures());
        }
    }

    private async Task AdvanceOrCompleteAsync(string actor, string reason, string figures, string? requestId = null)
    {
        var plan = S.Plan!;
        if (S.CurrentStage >= plan.Stages.Length - 1)
        {
            await TransitionAsync(CampaignState.Completed, actor, "complete", reason, requestId, figures, requestAction: "advance");
            await PublishAsync();
            await StopTickingAsync();
            return;
        }

        S.CurrentStage++;
        while (S.StageStartedAt.Count <= S.CurrentStage)
        {
            S.StageStartedAt.Add(null);
        }

        S.StageStartedAt[S.CurrentStage] = clock.UtcNow;
        await TransitionAsync(CampaignState.Running, actor, $"advance to stage {S.CurrentStage + 1}", reason, requestId, figures, requestAction: "advance");
        await PublishAsync();
    }

    private async Task HaltInternalAsync(string actor, string reason, string figures, string? requestId = null)
    {
        var (completed, failures) = _figures.Attempts();
        var blame = CohortAttribution.Blame(_figures.Cohorts(), _figures.ErrorCodes(), completed, failures);
        S.Halt = new HaltRecord(actor, reason, clock.UtcNow, blame);
        await TransitionAsync(CampaignState.Halted, actor, "halt", reason, requestId, figures + Describe(blame));
        RolloutMetrics.Halt(CampaignId, automatic: actor.StartsWith("policy:", StringComparison.Ordinal));

        // The directory pushes the new snapshot to every silo before this returns: no new offers anywhere. If this
        // fails, the halt is stored all the same: a retried halt publishes it, and so do the tick and every silo.
        await PublishAsync();
        logger.LogWarning("Campaign {Campaign} halted by {Actor}: {Reason}{Blame}", CampaignId, actor, reason, Describe(blame));
    }

    /// <summary>
    /// A cohort-scoped plan's halt (docs/design.md, "What the halt policies guarantee"): when the window's failures
    /// concentrate in one cohort value and the rest would not halt, that value alone stops, in the snapshot every
    /// silo's devices decide from, and the rest goes on in a new window. False: the whole campaign halts.
    /// </summary>
    private async Task<bool> TryHaltCohortAsync(HaltVerdict verdict)
    {
        var cohorts = await CohortStageCountsAsync();
        var decision = CohortHalting.Decide(S.Plan!.Halt, cohorts, S.Plan.Stages.Length, S.HaltBaselines, S.CohortBaselines, _figures.ErrorCodes());
        if (decision is null)
        {
            return false;
        }

        var actor = "policy:" + verdict.Policy;
        var figures = CohortHalting.Describe(decision) + Describe(decision.Blame);
        S.HaltedCohorts.Add(new CohortHaltRecord(decision.Cohort, actor, verdict.Explanation, clock.UtcNow, figures));
        OpenCohortWindow(cohorts);
        await TransitionAsync(CampaignState.Running, actor, $"halt cohort {decision.Cohort}", verdict.Explanation, requestId: null, figures);
        RolloutMetrics.Halt(CampaignId, automatic: true);

        // Published before anything else: every silo's device grains refuse the cohort from this snapshot on.
        await PublishAsync();
        logger.LogWarning("Campaign {Campaign}: cohort {Cohort} halted by {Actor}: {Reason}; {Figures}", CampaignId, decision.Cohort, actor, verdict.Explanation, figures);
        return true;
    }

    /// <summary>Opens a new halt window: the policy judges only what comes after these baselines (another α).</summary>
    private void OpenCohortWindow(IReadOnlyCollection<CohortStageCounts> cohorts)
    {
        var (stages, perCohort) = CohortHalting.Baselines(cohorts, S.Plan!.Stages.Length);
        S.HaltBaselines = [.. stages];
        S.CohortBaselines = [.. perCohort];
    }

    /// <summary>Every cohort value's per-stage counts over all shards (asked for only when a cohort decision is due).</summary>
    private async Task<IReadOnlyCollection<CohortStageCounts>> CohortStageCountsAsync()
    {
        var shards = await Task.WhenAll(Enumerable.Range(0, StatsSharding.ShardCount).Select(i => Shard(i).GetCohortStageCountsAsync()));
        return [.. shards.SelectMany(s => s)
            .GroupBy(c => (c.Dimension, c.Value))
            .Select(g => new CohortStageCounts(g.Key.Dimension, g.Key.Value, Sum(g.Select(c => c.PerStage))))];
    }

    private static ImmutableArray<CampaignCounts> Sum(IEnumerable<ImmutableArray<CampaignCounts>> perShard)
    {
        var sum = new List<CampaignCounts>();
        foreach (var stages in perShard)
        {
            for (var k = 0; k < stages.Length; k++)
            {
                if (sum.Count <= k)
                {
                    sum.Add(CampaignCounts.Zero);
                }

                sum[k] = sum[k].Add(stages[k]);
            }
        }

        return [.. sum];
    }

    private async Task StopTickingAsync()
    {
        try
        {
            var reminder = await this.GetReminder(TickReminder);
            if (reminder is not null)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception e)
        {
            // A leftover reminder only calls TickAsync, which does nothing for a finished campaign.
            logger.LogWarning(e, "Campaign {Campaign}: could not remove its tick reminder", CampaignId);
        }
    }

    /// <summary>Republishes when the directory's record of this campaign is not its stored state (a publication that failed).</summary>
    private async Task ReconcilePublicationAsync()
    {
        var recorded = await Directory.GetRecordedRevisionAsync(CampaignId);
        if (recorded != RevisionOf(S))
        {
            logger.LogWarning("Campaign {Campaign}: directory holds revision {Recorded}, stored is {Stored} ({State}); publishing again",
                CampaignId, recorded, RevisionOf(S), Name(S.State));
            await PublishAsync();
        }
    }

    /// <summary>
    /// Records the stored state with the directory, which stores it and pushes it to every silo before returning.
    /// Only a running campaign's entry needs its packages: a paused or halted one makes no offers, so stopping a
    /// campaign never depends on the package catalog.
    /// </summary>
    private async Task PublishAsync()
    {
        var active = await CampaignEntry.OfAsync(GrainFactory, CampaignId, S, clock.UtcNow);
        await Directory.RecordAsync(CampaignId, S.State, active, RevisionOf(S));
    }

    private async Task RefreshSummariesAsync()
    {
        var summaries = await Task.WhenAll(Enumerable.Range(0, StatsSharding.ShardCount).Select(i => Shard(i).GetSummaryAsync()));
        foreach (var summary in summaries)
        {
            if (_figures.Take(summary))
            {
                _latestView = null;
            }
        }
    }

    private string Figures()
    {
        var (completed, failures) = _figures.Attempts();
        var rate = completed == 0 ? 0 : (double)failures / completed;
        return string.Create(CultureInfo.InvariantCulture, $"completed={completed} failures={failures} failure_rate={rate:0.0000} stage={S.CurrentStage + 1}");
    }

    private static string Describe(FailureBlame blame) =>
        (blame.Dimension is null ? string.Empty : $"; failures concentrate in {blame.Dimension}={blame.Value} ({blame.FailuresInCohort}/{blame.CompletedInCohort})")
        + (blame.TopErrorCode is null ? string.Empty : $"; top error {blame.TopErrorCode} ({blame.TopErrorCodeCount}/{blame.TotalFailures})");

    private CampaignView View(bool unchanged = false)
    {
        var view = _latestView ??= _figures.View(CampaignId, _committed, clock.UtcNow);
        return unchanged ? view with { Unchanged = true } : view;
    }
}
