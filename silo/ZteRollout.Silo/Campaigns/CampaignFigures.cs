using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Campaigns;

/// <summary>
/// A campaign's figures: the latest summary of each of its stats shards, merged. Each summary is a shard's whole
/// state in numbers (not a delta), so keeping the newest per shard makes a lost or repeated one harmless. Memory only:
/// the shards rebuild their summaries from the ledger rows, and the campaign pulls them again when it activates.
/// </summary>
internal sealed class CampaignFigures
{
    private readonly Dictionary<int, ShardSummary> _latest = [];

    /// <summary>Moves with every newer summary taken.</summary>
    public long Version { get; private set; }

    /// <summary>Keeps the summary when it is newer than the one held for its shard; true when it was.</summary>
    public bool Take(ShardSummary summary)
    {
        if (_latest.TryGetValue(summary.Shard, out var known) && known.Sequence >= summary.Sequence)
        {
            return false;
        }

        _latest[summary.Shard] = summary;
        Version++;
        return true;
    }

    /// <summary>Outcomes over every attempt (a retried device's earlier failure still counts) and failures among them.</summary>
    public (long Completed, long Failures) Attempts() =>
        (_latest.Values.Sum(s => s.CompletedAttempts), _latest.Values.Sum(s => s.FailedAttempts));

    /// <summary>Failed devices that may still retry.</summary>
    public long RetryPending => _latest.Values.Sum(s => s.RetryPending);

    /// <summary>Counts per stage, for at least <paramref name="stages"/> stages.</summary>
    public ImmutableArray<CampaignCounts> StageCounts(int stages)
    {
        var count = Math.Max(stages, _latest.Values.Select(s => s.PerStage.Length).DefaultIfEmpty(0).Max());
        return [.. Enumerable.Range(0, count).Select(i => _latest.Values
            .Select(s => i < s.PerStage.Length ? s.PerStage[i] : CampaignCounts.Zero)
            .Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b)))];
    }

    public CampaignCounts Totals(int stages) => StageCounts(stages).Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b));

    public ImmutableArray<CohortTally> Cohorts() =>
        [.. _latest.Values.SelectMany(s => s.Cohorts)
            .GroupBy(c => (c.Dimension, c.Value))
            .Select(g => new CohortTally(g.Key.Dimension, g.Key.Value, g.Sum(c => c.Completed), g.Sum(c => c.Failures)))
            .OrderBy(c => c.Dimension, StringComparer.Ordinal).ThenByDescending(c => c.Failures).ThenBy(c => c.Value, StringComparer.Ordinal)];

    public ImmutableDictionary<string, long> ErrorCodes() =>
        _latest.Values.SelectMany(s => s.ErrorCodes)
            .GroupBy(e => e.Key)
            .ToImmutableDictionary(g => g.Key, g => g.Sum(e => e.Value));

    /// <summary>Each stage's devices, each once with its final result (a failure awaiting its retry is undecided).</summary>
    public StageOutcomes[] Outcomes(int stages) => [.. StageCounts(stages).Take(stages).Select(StageOutcomes.Of)];

    /// <summary>
    /// What the halt policy judges: per stage, the devices since an SRE last resumed the campaign from a halt (each
    /// resume opens a new window and so spends α again; docs/design.md, "What the halt policies guarantee").
    /// </summary>
    public StageOutcomes[] HaltWindow(CampaignGrainState s)
    {
        var outcomes = Outcomes(s.Plan!.Stages.Length);
        for (var i = 0; i < outcomes.Length; i++)
        {
            outcomes[i] = outcomes[i].Since(i < s.HaltBaselines.Count ? s.HaltBaselines[i] : null);
        }

        return outcomes;
    }

    /// <summary>
    /// The current stage's gate over the campaign's devices so far: decided devices count once with their final
    /// result, and one still in flight counts as not succeeded, so successes reporting first cannot open a gate early.
    /// </summary>
    public StageGateVerdict Gate(CampaignGrainState s, DateTimeOffset now)
    {
        var plan = s.Plan!;
        var total = Outcomes(plan.Stages.Length).Aggregate(StageOutcomes.None, (a, b) => a.Add(b));
        var startedAt = s.CurrentStage < s.StageStartedAt.Count ? s.StageStartedAt[s.CurrentStage] : null;
        return StageGates.Evaluate(plan.Stages[s.CurrentStage], startedAt ?? now, now, total);
    }

    /// <summary>
    /// The last stage may complete the campaign only when it has a gate or a soak to meet (a campaign without one
    /// keeps serving devices that join later until someone completes or cancels it), once something finished and
    /// no seen device still waits on it: no open offer, no deferral, no exposed device waiting, no retry left.
    /// </summary>
    public bool NothingPending(CampaignGrainState s)
    {
        var last = s.Plan!.Stages[^1];
        if (last.GateMinCompleted <= 0 && last.MinSoak <= TimeSpan.Zero)
        {
            return false;
        }

        var totals = Totals(s.Plan.Stages.Length);
        return totals.Finished > 0 && totals.Open == 0 && totals.Deferred == 0 && totals.Waiting == 0 && RetryPending == 0;
    }

    /// <summary>The campaign as stored in <paramref name="s"/>, with these figures.</summary>
    public CampaignView View(string campaignId, CampaignGrainState s, DateTimeOffset now)
    {
        var plan = s.Plan!;
        var (completed, failures) = Attempts();
        var stageCounts = StageCounts(plan.Stages.Length);
        var live = s.State is CampaignState.Running or CampaignState.Paused or CampaignState.Halted;
        return new CampaignView(campaignId, plan, s.State, s.CreatedAt, [.. s.Audit], stageCounts.Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b)))
        {
            CurrentStage = s.CurrentStage,
            StageStartedAt = [.. s.StageStartedAt],
            StageCounts = stageCounts,
            Cohorts = Cohorts(),
            ErrorCodes = ErrorCodes(),
            CompletedAttempts = completed,
            FailedAttempts = failures,
            Halt = s.State == CampaignState.Halted ? s.Halt : null,
            HaltedCohorts = [.. s.HaltedCohorts],
            GateStatus = live ? Gate(s, now).Explanation : string.Empty,
            StatusVersion = (s.Audit.Count * 1_000_000L) + Version,
            HaltStatistic = plan.Halt.Sequential is { } sequential
                ? HaltEvaluation.Evaluate(plan.Halt with { Threshold = null }, HaltWindow(s)).LogLikelihoodRatio ?? 0
                : 0,
        };
    }
}
