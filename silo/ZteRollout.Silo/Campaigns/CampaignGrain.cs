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
}

/// <summary>
/// A campaign: plan, lifecycle, stage, gates, halt decisions and audit log. Check-ins never reach it; its stats
/// shards send it their summaries after each stored batch, and it judges the halt policy on every one.
/// Time-driven work (soak, gates, timeouts) runs in <see cref="TickAsync"/>, called by a reminder.
/// </summary>
public sealed class CampaignGrain(
    [PersistentState("campaign", RolloutStorage.Name)] IPersistentState<CampaignGrainState> state,
    RolloutClock clock,
    ILogger<CampaignGrain> logger) : Grain, ICampaignGrain, IRemindable
{
    private const string TickReminder = "tick";
    private static readonly TimeSpan TickPeriod = TimeSpan.FromMinutes(1);
    private readonly Dictionary<int, ShardSummary> _summaries = [];
    private long _statusVersion;

    private string CampaignId => GrainKeys.CampaignIdOf(this.GetPrimaryKeyString());

    private ICampaignDirectoryGrain Directory => GrainFactory.GetGrain<ICampaignDirectoryGrain>(0);

    private CampaignGrainState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Plan is not null && S.State is CampaignState.Running or CampaignState.Paused or CampaignState.Halted)
        {
            await RefreshSummariesAsync();
        }
    }

    public async Task<CampaignView> CreateAsync(CampaignPlan plan, string actor)
    {
        if (S.Plan is not null)
        {
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

        var now = clock.UtcNow;
        S.Plan = plan;
        S.State = CampaignState.Draft;
        S.CreatedAt = now;
        S.Audit.Add(new AuditEntry(now, actor, "create", string.Empty));
        await state.WriteStateAsync();
        await Directory.RecordAsync(CampaignId, CampaignState.Draft, null);
        return View();
    }

    public async Task<CampaignView> StartAsync(string actor, string reason)
    {
        RequirePlan();
        if (S.State != CampaignState.Running)
        {
            Require("start", CampaignState.Draft);
            var now = clock.UtcNow;
            S.StartedAt = now;
            S.CurrentStage = 0;
            S.StageStartedAt = [now];
            await TransitionAsync(CampaignState.Running, actor, "start", reason);
            await this.RegisterOrUpdateReminder(TickReminder, TickPeriod, TickPeriod);
        }

        // A retried start (its ack was lost) only makes sure the directory has it.
        await PublishAsync();
        return View();
    }

    public async Task<CampaignView> PauseAsync(string actor, string reason)
    {
        RequirePlan();
        Require("pause", CampaignState.Running);
        await TransitionAsync(CampaignState.Paused, actor, "pause", reason);
        await PublishAsync();
        return View();
    }

    public async Task<CampaignView> ResumeAsync(string actor, string reason, bool mayResumeHalted)
    {
        RequirePlan();
        if (S.State == CampaignState.Halted && !mayResumeHalted)
        {
            throw RolloutException.PermissionDenied($"campaign '{CampaignId}' is HALTED; only an SRE may resume a halted campaign");
        }

        Require("resume", CampaignState.Paused, CampaignState.Halted);
        if (S.State == CampaignState.Halted)
        {
            (S.HaltBaselineCompleted, S.HaltBaselineFailures) = Attempts();
        }

        S.Halt = null;
        await TransitionAsync(CampaignState.Running, actor, "resume", reason);
        await PublishAsync();
        return View();
    }

    public async Task<CampaignView> AdvanceAsync(string actor, string reason)
    {
        RequirePlan();
        Require("advance", CampaignState.Running);
        await AdvanceOrCompleteAsync(actor, reason, figures: string.Empty);
        return View();
    }

    public async Task<CampaignView> HaltAsync(string actor, string reason)
    {
        RequirePlan();
        if (string.IsNullOrWhiteSpace(reason))
        {
            throw RolloutException.InvalidField("reason", "a halt needs a reason");
        }

        Require("halt", CampaignState.Running, CampaignState.Paused);
        await HaltInternalAsync(actor, reason, figures: Figures());
        return View();
    }

    public async Task<CampaignView> CancelAsync(string actor, string reason)
    {
        RequirePlan();
        if (S.State != CampaignState.Canceled)
        {
            Require("cancel", CampaignState.Draft, CampaignState.Running, CampaignState.Paused, CampaignState.Halted);
            await TransitionAsync(CampaignState.Canceled, actor, "cancel", reason);
            await StopTickingAsync();
        }

        await PublishAsync();
        return View();
    }

    public async Task<CampaignView> GetAsync()
    {
        RequirePlan();
        if (S.State != CampaignState.Draft)
        {
            // Shards push summaries without waiting; a read pulls them too, so it shows every outcome stored before it.
            await RefreshSummariesAsync();
        }

        return View();
    }

    public async Task OnShardSummaryAsync(ShardSummary summary)
    {
        if (_summaries.TryGetValue(summary.Shard, out var known) && known.Sequence >= summary.Sequence)
        {
            return;
        }

        _summaries[summary.Shard] = summary;
        _statusVersion++;
        if (S.State == CampaignState.Running)
        {
            await EvaluateAsync();
        }
    }

    public async Task TickAsync()
    {
        if (S.State is not (CampaignState.Running or CampaignState.Paused or CampaignState.Halted))
        {
            return;
        }

        // Offers past their deadline time out even when their devices never come back; a paused or halted
        // campaign's in-flight offers still time out and count.
        var now = clock.UtcNow;
        await Task.WhenAll(Enumerable.Range(0, StatsSharding.ShardCount).Select(i => Shard(i).SweepTimeoutsAsync(now)));
        await RefreshSummariesAsync();
        if (S.State == CampaignState.Running)
        {
            await EvaluateAsync();
        }
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => TickAsync();

    public static string Name(CampaignState s) => s.ToString().ToUpperInvariant();

    private ICampaignStatsGrain Shard(int i) => GrainFactory.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(CampaignId, i));

    private CampaignPlan RequirePlan() =>
        S.Plan ?? throw RolloutException.NotFound($"campaign '{CampaignId}' does not exist");

    private void Require(string action, params CampaignState[] allowed)
    {
        if (!allowed.Contains(S.State))
        {
            throw RolloutException.FailedPrecondition(
                $"campaign '{CampaignId}' is {Name(S.State)}; {action} needs {string.Join(" or ", allowed.Select(Name))}");
        }
    }

    private async Task TransitionAsync(CampaignState next, string actor, string action, string reason, string figures = "")
    {
        S.State = next;
        S.Audit.Add(new AuditEntry(clock.UtcNow, actor, action, reason) { Figures = figures });
        _statusVersion++;
        await state.WriteStateAsync();
    }

    /// <summary>Halt policy first (a failure spike must stop the rollout before a gate could widen it), then the gate.</summary>
    private async Task EvaluateAsync()
    {
        var plan = S.Plan!;
        var (completed, failures) = HaltWindow();
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

        var gate = Gate();
        if (gate.Met && (S.CurrentStage < plan.Stages.Length - 1 || NothingPending()))
        {
            await AdvanceOrCompleteAsync("policy:gate", gate.Explanation, Figures());
        }
    }

    private async Task AdvanceOrCompleteAsync(string actor, string reason, string figures)
    {
        var plan = S.Plan!;
        if (S.CurrentStage >= plan.Stages.Length - 1)
        {
            await TransitionAsync(CampaignState.Completed, actor, "complete", reason, figures);
            await StopTickingAsync();
        }
        else
        {
            S.CurrentStage++;
            while (S.StageStartedAt.Count <= S.CurrentStage)
            {
                S.StageStartedAt.Add(null);
            }

            S.StageStartedAt[S.CurrentStage] = clock.UtcNow;
            await TransitionAsync(CampaignState.Running, actor, $"advance to stage {S.CurrentStage + 1}", reason, figures);
        }

        await PublishAsync();
    }

    private async Task HaltInternalAsync(string actor, string reason, string figures)
    {
        var (completed, failures) = Attempts();
        var blame = CohortAttribution.Blame(MergedCohorts(), MergedErrorCodes(), completed, failures);
        S.Halt = new HaltRecord(actor, reason, clock.UtcNow, blame);
        await TransitionAsync(CampaignState.Halted, actor, "halt", reason, figures + Describe(blame));

        // The directory pushes the new snapshot to every silo before this returns: no new offers anywhere.
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

    private async Task PublishAsync()
    {
        var active = S.State is CampaignState.Running or CampaignState.Paused or CampaignState.Halted ? await BuildActiveAsync(S.Plan!) : null;
        await Directory.RecordAsync(CampaignId, S.State, active);
    }

    private async Task RefreshSummariesAsync()
    {
        var summaries = await Task.WhenAll(Enumerable.Range(0, StatsSharding.ShardCount).Select(i => Shard(i).GetSummaryAsync()));
        foreach (var summary in summaries)
        {
            if (!_summaries.TryGetValue(summary.Shard, out var known) || known.Sequence < summary.Sequence)
            {
                _summaries[summary.Shard] = summary;
                _statusVersion++;
            }
        }
    }

    /// <summary>Resolves each target's FULL package and the deltas to its version, for device grains to choose from.</summary>
    private async Task<ActiveCampaign> BuildActiveAsync(CampaignPlan plan)
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

        return new ActiveCampaign(CampaignId, plan.Priority, plan.Eligibility, plan.InProgressTimeout, targets.ToImmutable())
        {
            Salt = CampaignId,
            ExposurePercent = S.State == CampaignState.Running ? plan.Stages[S.CurrentStage].Percent : 0,
            StagePercents = [.. plan.Stages.Select(st => st.Percent)],
            Retry = plan.Retry,
            Rollback = plan.Rollback,
            RateLimit = plan.RateLimit,
            RampStartedAt = S.StartedAt ?? clock.UtcNow,
        };
    }

    private (long Completed, long Failures) HaltWindow()
    {
        var (completed, failures) = Attempts();
        return (completed - S.HaltBaselineCompleted, failures - S.HaltBaselineFailures);
    }

    private (long Completed, long Failures) Attempts() =>
        (_summaries.Values.Sum(s => s.CompletedAttempts), _summaries.Values.Sum(s => s.FailedAttempts));

    private ImmutableArray<CampaignCounts> StageCounts()
    {
        var stages = Math.Max(S.Plan!.Stages.Length, _summaries.Values.Select(s => s.PerStage.Length).DefaultIfEmpty(0).Max());
        return [.. Enumerable.Range(0, stages).Select(i => _summaries.Values
            .Select(s => i < s.PerStage.Length ? s.PerStage[i] : CampaignCounts.Zero)
            .Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b)))];
    }

    /// <summary>
    /// The last stage may complete the campaign only when it has a gate or a soak to meet (a campaign without one
    /// keeps serving devices that join later until someone completes or cancels it), once something finished and
    /// no seen device still waits on it: no open offer, no deferral, no exposed device waiting, no retry left.
    /// </summary>
    private bool NothingPending()
    {
        var last = S.Plan!.Stages[^1];
        if (last.GateMinCompleted <= 0 && last.MinSoak <= TimeSpan.Zero)
        {
            return false;
        }

        var totals = Totals();
        return totals.Finished > 0 && totals.Open == 0 && totals.Deferred == 0 && totals.Waiting == 0
            && _summaries.Values.Sum(s => s.RetryPending) == 0;
    }

    private CampaignCounts Totals() => StageCounts().Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b));

    private ImmutableArray<CohortTally> MergedCohorts() =>
        [.. _summaries.Values.SelectMany(s => s.Cohorts)
            .GroupBy(c => (c.Dimension, c.Value))
            .Select(g => new CohortTally(g.Key.Dimension, g.Key.Value, g.Sum(c => c.Completed), g.Sum(c => c.Failures)))
            .OrderBy(c => c.Dimension, StringComparer.Ordinal).ThenByDescending(c => c.Failures).ThenBy(c => c.Value, StringComparer.Ordinal)];

    private ImmutableDictionary<string, long> MergedErrorCodes() =>
        _summaries.Values.SelectMany(s => s.ErrorCodes)
            .GroupBy(e => e.Key)
            .ToImmutableDictionary(g => g.Key, g => g.Sum(e => e.Value));

    /// <summary>The current stage's gate over the campaign's outcomes so far (latest status of every device).</summary>
    private StageGateVerdict Gate()
    {
        var plan = S.Plan!;
        var totals = Totals();
        var startedAt = S.CurrentStage < S.StageStartedAt.Count ? S.StageStartedAt[S.CurrentStage] : null;
        return StageGates.Evaluate(plan.Stages[S.CurrentStage], startedAt ?? clock.UtcNow, clock.UtcNow, totals.Finished, totals.Succeeded);
    }

    private string Figures()
    {
        var (completed, failures) = Attempts();
        var rate = completed == 0 ? 0 : (double)failures / completed;
        return string.Create(CultureInfo.InvariantCulture, $"completed={completed} failures={failures} failure_rate={rate:0.0000} stage={S.CurrentStage + 1}");
    }

    private static string Describe(FailureBlame blame) =>
        (blame.Dimension is null ? string.Empty : $"; failures concentrate in {blame.Dimension}={blame.Value} ({blame.FailuresInCohort}/{blame.CompletedInCohort})")
        + (blame.TopErrorCode is null ? string.Empty : $"; top error {blame.TopErrorCode} ({blame.TopErrorCodeCount}/{blame.TotalFailures})");

    private CampaignView View()
    {
        var plan = S.Plan!;
        var (completed, failures) = Attempts();
        var stageCounts = StageCounts();
        var running = S.State is CampaignState.Running or CampaignState.Paused or CampaignState.Halted;
        return new CampaignView(CampaignId, plan, S.State, S.CreatedAt, [.. S.Audit], stageCounts.Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b)))
        {
            CurrentStage = S.CurrentStage,
            StageStartedAt = [.. S.StageStartedAt],
            StageCounts = stageCounts,
            Cohorts = MergedCohorts(),
            ErrorCodes = MergedErrorCodes(),
            CompletedAttempts = completed,
            FailedAttempts = failures,
            Halt = S.State == CampaignState.Halted ? S.Halt : null,
            GateStatus = running ? Gate().Explanation : string.Empty,
            StatusVersion = (S.Audit.Count * 1_000_000L) + _statusVersion,
            HaltStatistic = plan.Halt.Sequential is { } sequential
                ? HaltEvaluation.LogLikelihoodRatio(sequential, HaltWindow().Completed, HaltWindow().Failures)
                : 0,
        };
    }
}
