using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Campaigns;

/// <summary>What a campaign stores: its plan, lifecycle, stages, halt record, audit log and recent request ids.</summary>
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

    /// <summary>Attempt totals at the last resume from a halt, as judged before issue 9; superseded by <see cref="HaltBaselines"/>.</summary>
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

    /// <summary>
    /// Each stage's figures when an SRE last resumed a halted campaign. The halt policy judges only devices after it:
    /// a resume says the cause was dealt with, and judging the old failures again would re-halt at once.
    /// </summary>
    [Id(11)]
    public List<StageBaseline> HaltBaselines { get; set; } = [];

    /// <summary>Cohort values halted on their own (a plan with halt_scope cohort), oldest first, until an SRE lifts them.</summary>
    [Id(20)]
    public List<CohortHaltRecord> HaltedCohorts { get; set; } = [];

    /// <summary>
    /// Each cohort value's per-stage figures when the current halt window opened (with <see cref="HaltBaselines"/>),
    /// kept for cohort-scoped plans: a cohort halt judges the window without the blamed value.
    /// </summary>
    [Id(21)]
    public List<CohortBaseline> CohortBaselines { get; set; } = [];

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
        HaltBaselines = [.. HaltBaselines],
        HaltedCohorts = [.. HaltedCohorts],
        CohortBaselines = [.. CohortBaselines],
    };
}

/// <summary>A client request id a campaign applied: which call it named, and when.</summary>
[GenerateSerializer, Immutable, Alias("zte.AppliedRequest")]
public sealed record AppliedRequest(
    [property: Id(0)] string RequestId,
    [property: Id(1)] string Action,
    [property: Id(2)] DateTimeOffset At);
