using System.Collections.Immutable;
using System.Globalization;
using Microsoft.Extensions.Logging;
using ZteRollout.Shared;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Silo.Campaigns;

[GenerateSerializer, Alias("zte.CampaignGrainState")]
public sealed class CampaignGrainState
{
    [Id(0)]
    public CampaignPlan? Plan { get; set; }

    [Id(1)]
    public CampaignState State { get; set; }

    [Id(2)]
    public DateTimeOffset CreatedAt { get; set; }

    [Id(3)]
    public List<AuditEntry> Audit { get; set; } = [];

    [Id(4)]
    public int CurrentStage { get; set; }

    [Id(5)]
    public List<DateTimeOffset?> StageStartedAt { get; set; } = [];

    [Id(6)]
    public HaltRecord? Halt { get; set; }

    [Id(7)]
    public DateTimeOffset? StartedAt { get; set; }

    /// <summary>
    /// Attempt totals when an SRE last resumed a halted campaign. The halt policy judges only outcomes after it:
    /// a resume says the cause was dealt with, and judging the old failures again would re-halt at once.
    /// </summary>
    [Id(8)]
    public long HaltBaselineCompleted { get; set; }

    [Id(9)]
    public long HaltBaselineFailures { get; set; }

    /// <summary>
    /// The request ids of the latest mutating calls, stored with the change each made, so a retried call (its ack was
    /// lost) is answered as a no-op instead of being applied twice. Bounded: a client retries within minutes.
    /// </summary>
    [Id(10)]
    public List<AppliedRequest> Requests { get; set; } = [];

    /// <summary>A copy for reads: what was stored, whatever the grain changes next.</summary>
    public CampaignGrainState Copy() => new()
    {
        Plan = Plan,
        State = State,
        CreatedAt = CreatedAt,
        Audit = [.. Audit],
        CurrentStage = CurrentStage,
        StageStartedAt = [.. StageStartedAt],
        Halt = Halt,
        StartedAt = StartedAt,
        HaltBaselineCompleted = HaltBaselineCompleted,
        HaltBaselineFailures = HaltBaselineFailures,
        Requests = [.. Requests],
    };
}

/// <summary>A client request id a campaign applied: which call it named, and when.</summary>
[GenerateSerializer, Immutable, Alias("zte.AppliedRequest")]
public sealed record AppliedRequest(
    [property: Id(0)] string RequestId,
    [property: Id(1)] string Action,
    [property: Id(2)] DateTimeOffset At);


/// <summary>
/// A campaign: plan, lifecycle, stage, gates, halt decisions and audit log. Check-ins never reach it; its stats
/// shards send it their summaries after each change, and it judges the halt policy on every one.
/// Changes run one at a time in the grain's turn and are stored before they are published or acknowledged; reads
/// (<see cref="GetAsync"/>, <see cref="GetLatestViewAsync"/>) and the tick's bulk work are interleaved and see only
/// committed state, so a halt never waits behind a viewer or a timeout sweep (docs/design.md, "Halt path").
/// </summary>
public sealed class CampaignGrain(
    [PersistentState("campaign", RolloutStorage.Name)] IPersistentState<CampaignGrainState> state,
    RolloutClock clock,
    ILogger<CampaignGrain> logger) : Grain, ICampaignGrain, IRemindable
{
    private const string TickReminder = "tick";
    private const int RequestsKept = 64;
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
            (S.HaltBaselineCompleted, S.HaltBaselineFailures) = _figures.Attempts();
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
            var now = clock.UtcNow;
            await Task.WhenAll(Enumerable.Range(0, StatsSharding.ShardCount).Select(i => Shard(i).SweepTimeoutsAsync(now)));
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
        var (completed, failures) = HaltWindow(S);
        var verdict = HaltEvaluation.Evaluate(plan.Halt, completed, failures);
        if (verdict.ShouldHalt)
        {
            await HaltInternalAsync("policy:" + verdict.Policy, verdict.Explanation, Figures());
            return;
        }

        if (!plan.AutoAdvance)
        {
            return;
        }

        var gate = Gate(S);
        if (gate.Met && (S.CurrentStage < plan.Stages.Length - 1 || NothingPending(S)))
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

        // The directory pushes the new snapshot to every silo before this returns: no new offers anywhere. If this
        // fails, the halt is stored all the same: a retried halt publishes it, and so do the tick and every silo.
        await PublishAsync();
        logger.LogWarning("Campaign {Campaign} halted by {Actor}: {Reason}{Blame}", CampaignId, actor, reason, Describe(blame));
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
        var plan = S.Plan!;
        var active = S.State switch
        {
            CampaignState.Running => Entry(plan, await ResolveTargetsAsync(plan)),
            CampaignState.Paused or CampaignState.Halted => Entry(plan, ImmutableDictionary<string, ModelTarget>.Empty),
            _ => null,
        };
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

    /// <summary>Resolves each target's FULL package and the deltas to its version, for device grains to choose from.</summary>
    private async Task<ImmutableDictionary<string, ModelTarget>> ResolveTargetsAsync(CampaignPlan plan)
    {
        var catalog = GrainFactory.GetGrain<IPackageCatalogGrain>(0);
        var targets = ImmutableDictionary.CreateBuilder<string, ModelTarget>(StringComparer.Ordinal);
        foreach (var target in plan.Targets)
        {
            var full = await catalog.GetAsync(target.PackageId)
                ?? throw RolloutException.FailedPrecondition($"package '{target.PackageId}' of model '{target.Model}' no longer exists");
            var seed = new ModelTarget(full, []);
            var deltas = plan.Rollback ? [] : (await catalog.ListAsync(target.Model)).Where(p => CampaignDirectoryGrain.IsDeltaOf(p, seed));
            targets[target.Model] = seed with { Deltas = [.. deltas] };
        }

        return targets.ToImmutable();
    }

    /// <summary>What device grains need of this campaign while it is running, paused or halted.</summary>
    private ActiveCampaign Entry(CampaignPlan plan, ImmutableDictionary<string, ModelTarget> targets) =>
        new(CampaignId, plan.Priority, plan.Eligibility, plan.InProgressTimeout, targets)
        {
            Salt = CampaignId,
            ExposurePercent = S.State == CampaignState.Running ? plan.Stages[S.CurrentStage].Percent : 0,
            StagePercents = [.. plan.Stages.Select(st => st.Percent)],
            Retry = plan.Retry,
            Rollback = plan.Rollback,
            RateLimit = plan.RateLimit,
            RampStartedAt = S.StartedAt ?? clock.UtcNow,
            Halted = S.State == CampaignState.Halted,
        };

    private (long Completed, long Failures) HaltWindow(CampaignGrainState s)
    {
        var (completed, failures) = _figures.Attempts();
        return (completed - s.HaltBaselineCompleted, failures - s.HaltBaselineFailures);
    }

    /// <summary>
    /// The last stage may complete the campaign only when it has a gate or a soak to meet (a campaign without one
    /// keeps serving devices that join later until someone completes or cancels it), once something finished and
    /// no seen device still waits on it: no open offer, no deferral, no exposed device waiting, no retry left.
    /// </summary>
    private bool NothingPending(CampaignGrainState s)
    {
        var last = s.Plan!.Stages[^1];
        if (last.GateMinCompleted <= 0 && last.MinSoak <= TimeSpan.Zero)
        {
            return false;
        }

        var totals = _figures.Totals(s.Plan.Stages.Length);
        return totals.Finished > 0 && totals.Open == 0 && totals.Deferred == 0 && totals.Waiting == 0 && _figures.RetryPending == 0;
    }

    /// <summary>The current stage's gate over the campaign's outcomes so far (latest status of every device).</summary>
    private StageGateVerdict Gate(CampaignGrainState s)
    {
        var plan = s.Plan!;
        var totals = _figures.Totals(plan.Stages.Length);
        var startedAt = s.CurrentStage < s.StageStartedAt.Count ? s.StageStartedAt[s.CurrentStage] : null;
        return StageGates.Evaluate(plan.Stages[s.CurrentStage], startedAt ?? clock.UtcNow, clock.UtcNow, totals.Finished, totals.Succeeded);
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
        var view = _latestView ??= BuildView(_committed);
        return unchanged ? view with { Unchanged = true } : view;
    }

    /// <summary>The campaign as stored, with the latest figures; cached until either changes.</summary>
    private CampaignView BuildView(CampaignGrainState c)
    {
        var plan = c.Plan!;
        var (completed, failures) = _figures.Attempts();
        var stageCounts = _figures.StageCounts(plan.Stages.Length);
        var (windowCompleted, windowFailures) = HaltWindow(c);
        return new CampaignView(CampaignId, plan, c.State, c.CreatedAt, [.. c.Audit], stageCounts.Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b)))
        {
            CurrentStage = c.CurrentStage,
            StageStartedAt = [.. c.StageStartedAt],
            StageCounts = stageCounts,
            Cohorts = _figures.Cohorts(),
            ErrorCodes = _figures.ErrorCodes(),
            CompletedAttempts = completed,
            FailedAttempts = failures,
            Halt = c.State == CampaignState.Halted ? c.Halt : null,
            GateStatus = IsLive(c.State) ? Gate(c).Explanation : string.Empty,
            StatusVersion = (c.Audit.Count * 1_000_000L) + _figures.Version,
            HaltStatistic = plan.Halt.Sequential is { } sequential
                ? HaltEvaluation.LogLikelihoodRatio(sequential, windowCompleted, windowFailures)
                : 0,
        };
    }
}
