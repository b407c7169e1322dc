using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using Orleans.Concurrency;
using ZteRollout.Shared.Devices;

namespace ZteRollout.Shared.Grains;

/// <summary>
/// One campaign: plan, lifecycle and audit log. Key: the campaign id.
/// Every mutating call takes an optional client request id: a retry with the same id is a no-op that answers the
/// campaign as it is (<see cref="CampaignView.Unchanged"/>). Halt, pause and cancel are idempotent anyway: repeated on a
/// campaign already in that state they publish it again and succeed.
/// </summary>
[Alias("zte.ICampaignGrain")]
public interface ICampaignGrain : IGrainWithStringKey
{
    /// <summary>Validates and stores a new DRAFT campaign.</summary>
    [Alias("Create")]
    Task<CampaignView> CreateAsync(CampaignPlan plan, string actor, string? requestId = null);

    /// <summary>Starts a DRAFT campaign; on a RUNNING one it republishes it and makes sure its tick is registered.</summary>
    [Alias("Start")]
    Task<CampaignView> StartAsync(string actor, string reason, string? requestId = null);

    [Alias("Cancel")]
    Task<CampaignView> CancelAsync(string actor, string reason, string? requestId = null);

    /// <summary>
    /// The campaign with its counts, pulled from its stats shards; NotFound when it was never created. Interleaved:
    /// it reads only committed state and summaries, so a reader never holds up a halt.
    /// </summary>
    [Alias("Get"), AlwaysInterleave]
    Task<CampaignView> GetAsync();

    /// <summary>
    /// The campaign as last committed, with the summaries its shards last pushed: no shard calls, and interleaved, so
    /// any number of watchers cost the campaign nothing it must wait for. NotFound when it was never created.
    /// </summary>
    [Alias("GetLatestView"), AlwaysInterleave]
    Task<CampaignView> GetLatestViewAsync();

    [Alias("Pause")]
    Task<CampaignView> PauseAsync(string actor, string reason, string? requestId = null);

    /// <summary>Resumes a PAUSED campaign, or a HALTED one when <paramref name="mayResumeHalted"/> (SREs decide on halts).</summary>
    [Alias("Resume")]
    Task<CampaignView> ResumeAsync(string actor, string reason, bool mayResumeHalted, string? requestId = null);

    /// <summary>
    /// Starts the next stage now (or completes the campaign after its last stage). With <paramref name="fromStage"/>
    /// (0-based) it is a compare-and-set: a campaign at another stage answers FailedPrecondition naming its stage.
    /// </summary>
    [Alias("Advance")]
    Task<CampaignView> AdvanceAsync(string actor, string reason, int? fromStage = null, string? requestId = null);

    [Alias("Halt")]
    Task<CampaignView> HaltAsync(string actor, string reason, string? requestId = null);

    /// <summary>
    /// Lifts the cohort halt of <paramref name="dimension"/>=<paramref name="value"/>: its devices get offers again and
    /// the halt policy opens a new window (another α). NotFound when that cohort is not halted. SREs decide.
    /// </summary>
    [Alias("LiftCohortHalt")]
    Task<CampaignView> LiftCohortHaltAsync(string dimension, string value, string actor, string reason, string? requestId = null);

    /// <summary>A stats shard's latest figures; the campaign re-evaluates its halt policy and stage gate on each.</summary>
    [Alias("OnShardSummary")]
    Task OnShardSummaryAsync(ShardSummary summary);

    /// <summary>
    /// Time-driven work: the in-progress timeout sweep and a pull of the shards' summaries (interleaved, so a halt or
    /// a read never waits for them), then <see cref="CompleteTickAsync"/> in the campaign's own turn. A reminder
    /// starts it every minute; tests call it after moving their fake clock.
    /// </summary>
    [Alias("Tick"), AlwaysInterleave]
    Task TickAsync();

    /// <summary>
    /// The tick's decisions, in the campaign's own turn: republish when the directory's record differs from the
    /// stored state, then the halt policy, soak, gates and completion over the latest summaries.
    /// </summary>
    [Alias("CompleteTick")]
    Task CompleteTickAsync();

    /// <summary>
    /// Republishes the campaign when the directory's record of it differs from its stored state (a publication that
    /// failed after the state was stored). Each silo calls it now and then for the campaigns its snapshot lets offer.
    /// </summary>
    [Alias("Reconcile")]
    Task ReconcileAsync();
}

/// <summary>Why and by whom a campaign was halted.</summary>
[GenerateSerializer, Immutable, Alias("zte.HaltRecord")]
public sealed record HaltRecord(
    [property: Id(0)] string By,
    [property: Id(1)] string Reason,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] FailureBlame Blame);

[GenerateSerializer, Immutable, Alias("zte.CampaignView")]
public sealed record CampaignView(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] CampaignPlan Plan,
    [property: Id(2)] CampaignState State,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] ImmutableArray<AuditEntry> Audit,
    [property: Id(5)] CampaignCounts Counts)
{
    [Id(6)]
    public int CurrentStage { get; init; }

    /// <summary>When each stage started (null before).</summary>
    [Id(7)]
    public ImmutableArray<DateTimeOffset?> StageStartedAt { get; init; } = [];

    [Id(8)]
    public ImmutableArray<CampaignCounts> StageCounts { get; init; } = [];

    [Id(9)]
    public ImmutableArray<CohortTally> Cohorts { get; init; } = [];

    [Id(10)]
    public ImmutableDictionary<string, long> ErrorCodes { get; init; } = ImmutableDictionary<string, long>.Empty;

    /// <summary>Outcomes over every attempt (a retried device's earlier failure still counts).</summary>
    [Id(11)]
    public long CompletedAttempts { get; init; }

    [Id(12)]
    public long FailedAttempts { get; init; }

    [Id(13)]
    public HaltRecord? Halt { get; init; }

    [Id(14)]
    public string GateStatus { get; init; } = string.Empty;

    /// <summary>Moves with every change of state or figures.</summary>
    [Id(15)]
    public long StatusVersion { get; init; }

    /// <summary>
    /// The sequential test's log-likelihood ratio in the stage closest to halting, over devices with their final result
    /// (in flight counted as successes) since the last resume from a halt.
    /// </summary>
    [Id(16)]
    public double HaltStatistic { get; init; }

    /// <summary>
    /// The call that answered this changed nothing: the campaign already was as asked (a repeated halt, pause or
    /// cancel, which only publishes it again) or the call's request id was applied before.
    /// </summary>
    [Id(17)]
    public bool Unchanged { get; init; }

    /// <summary>Cohort values halted on their own (a cohort-scoped halt), oldest first; the rest of the campaign goes on.</summary>
    [Id(20)]
    public ImmutableArray<CohortHaltRecord> HaltedCohorts { get; init; } = [];
}

/// <summary>Devices of a campaign by their latest status; each device counts once.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignCounts")]
public sealed record CampaignCounts(
    [property: Id(0)] long Offered,
    [property: Id(1)] long InProgress,
    [property: Id(2)] long Installed,
    [property: Id(3)] long Succeeded,
    [property: Id(4)] long Failed,
    [property: Id(5)] long RolledBack,
    [property: Id(6)] long TimedOut,
    [property: Id(7)] long Deferred,
    [property: Id(8)] long Canceled)
{
    public static CampaignCounts Zero { get; } = new(0, 0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>Eligible devices seen at check-in whose bucket is not exposed yet (or the campaign was not offering).</summary>
    [Id(9)]
    public long Waiting { get; init; }

    /// <summary>Failed devices (latest status) that will get another offer: their result is not final yet.</summary>
    [Id(10)]
    public long RetryPending { get; init; }

    /// <summary>
    /// Devices whose success awaits its health confirmation (the plan's health window): not finished, not a success
    /// for halts and gates until confirmed, a failure if the device rolls back first.
    /// </summary>
    [Id(20)]
    public long PendingConfirmation { get; init; }

    /// <summary>Devices that finished (succeeded or failed, latest status).</summary>
    public long Finished => Succeeded + Failed + RolledBack + TimedOut;

    /// <summary>Offers not finished yet.</summary>
    public long Open => Offered - Finished - Canceled;

    public CampaignCounts Add(CampaignCounts o) => new(
        Offered + o.Offered, InProgress + o.InProgress, Installed + o.Installed, Succeeded + o.Succeeded, Failed + o.Failed,
        RolledBack + o.RolledBack, TimedOut + o.TimedOut, Deferred + o.Deferred, Canceled + o.Canceled)
    { Waiting = Waiting + o.Waiting, RetryPending = RetryPending + o.RetryPending, PendingConfirmation = PendingConfirmation + o.PendingConfirmation };
}

/// <summary>Where a device stands in a campaign, as counted.</summary>
[GenerateSerializer]
public enum DeviceOutcome
{
    Deferred = 1,
    Offered = 2,
    InProgress = 3,
    Installed = 4,
    Succeeded = 5,
    Failed = 6,
    RolledBack = 7,
    TimedOut = 8,
    Canceled = 9,
    Waiting = 10,

    /// <summary>SUCCEEDED, awaiting its health confirmation (the plan's health window); undecided until then.</summary>
    PendingConfirmation = 11,
}

/// <summary>The cohort a device belongs to, so counts (and later halts) can name where failures are.</summary>
[GenerateSerializer, Immutable, Alias("zte.Cohort")]
public sealed record Cohort(
    [property: Id(0)] string Model,
    [property: Id(1)] string HardwareRevision,
    [property: Id(2)] string Region,
    [property: Id(3)] string Carrier,
    [property: Id(4)] string SourceVersion);

/// <summary>
/// A device's latest status in a campaign. <see cref="Sequence"/> grows per device, so applying an event
/// twice, or an older one after a newer, changes nothing: counting is exactly-once across retries.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.OutcomeEvent")]
public sealed record OutcomeEvent(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] string DeviceId,
    [property: Id(2)] long Sequence,
    [property: Id(3)] DeviceOutcome Outcome,
    [property: Id(4)] string? ErrorCode,
    [property: Id(5)] Cohort Cohort)
{
    /// <summary>The campaign stage the device's bucket belongs to.</summary>
    [Id(6)]
    public int Stage { get; init; }

    /// <summary>The offer the event is about (null for waiting and deferral events).</summary>
    [Id(7)]
    public string? OfferId { get; init; }

    /// <summary>When that offer times out, while it is open.</summary>
    [Id(8)]
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>For a failure: the device may still get another offer (retry budget left, retryable code).</summary>
    [Id(9)]
    public bool RetryPending { get; init; }

    /// <summary>Failed attempts of the device in this campaign so far, this event's included (the device counts them).</summary>
    [Id(10)]
    public int FailedAttempts { get; init; }

    /// <summary>The error code of the device's latest failed attempt in this campaign, if any.</summary>
    [Id(11)]
    public string? LastFailureCode { get; init; }

    public static bool IsFailure(DeviceOutcome outcome) =>
        outcome is DeviceOutcome.Failed or DeviceOutcome.RolledBack or DeviceOutcome.TimedOut;

    public static DeviceOutcome FromStatus(OfferStatus status) => status switch
    {
        OfferStatus.Offered => DeviceOutcome.Offered,
        OfferStatus.Installed => DeviceOutcome.Installed,
        OfferStatus.Succeeded => DeviceOutcome.Succeeded,
        OfferStatus.Failed => DeviceOutcome.Failed,
        OfferStatus.RolledBack => DeviceOutcome.RolledBack,
        OfferStatus.TimedOut => DeviceOutcome.TimedOut,
        OfferStatus.Canceled => DeviceOutcome.Canceled,
        _ => DeviceOutcome.InProgress,
    };
}

/// <summary>
/// One shard of a campaign's outcome counts. Key: "{campaignId}/{shard}". Devices map to shards by a stable hash,
/// so no single grain sees every outcome of a large campaign.
/// </summary>
[Alias("zte.ICampaignStatsGrain")]
public interface ICampaignStatsGrain : IGrainWithStringKey
{
    /// <summary>
    /// Counts events (idempotently, by per-device sequence). The events are already stored in the campaign's ledger
    /// rows by the device's own write; the shard keeps the counts those rows add up to.
    /// </summary>
    [Alias("Apply")]
    Task ApplyAsync(ImmutableArray<OutcomeEvent> events);

    [Alias("GetCounts")]
    Task<CampaignCounts> GetCountsAsync();

    /// <summary>The shard's figures for the campaign: per stage, per cohort, per error code, attempt totals.</summary>
    [Alias("GetSummary")]
    Task<ShardSummary> GetSummaryAsync();

    /// <summary>
    /// Per cohort value, per stage, the shard's devices by latest status: what a cohort-scoped halt judges. Built from
    /// the devices on each call (only when the halt policy fires or a halt window opens), never on the hot path.
    /// </summary>
    [Alias("GetCohortStageCounts")]
    Task<ImmutableArray<CohortStageCounts>> GetCohortStageCountsAsync();

    /// <summary>Asks each device whose open offer is past its deadline at <paramref name="now"/> to time it out.</summary>
    [Alias("SweepTimeouts")]
    Task<int> SweepTimeoutsAsync(DateTimeOffset now);
}

/// <summary>Completed outcomes and failures of one cohort value (e.g. model = "MF286D"), counting every attempt.</summary>
[GenerateSerializer, Immutable, Alias("zte.CohortTally")]
public sealed record CohortTally(
    [property: Id(0)] string Dimension,
    [property: Id(1)] string Value,
    [property: Id(2)] long Completed,
    [property: Id(3)] long Failures);

/// <summary>
/// One shard's figures, sent to the campaign after every stored batch. It is the shard's whole state in numbers,
/// not a delta, so the campaign keeps the latest per shard and a lost or repeated message does no harm.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.ShardSummary")]
public sealed record ShardSummary(
    [property: Id(0)] int Shard,
    [property: Id(1)] ImmutableArray<CampaignCounts> PerStage,
    [property: Id(2)] ImmutableArray<CohortTally> Cohorts,
    [property: Id(3)] ImmutableDictionary<string, long> ErrorCodes,
    [property: Id(4)] long CompletedAttempts,
    [property: Id(5)] long FailedAttempts,
    [property: Id(6)] long Sequence)
{
    /// <summary>Failed devices that may still retry; a campaign does not complete while any remain.</summary>
    [Id(7)]
    public long RetryPending { get; init; }
}

/// <summary>The fleet-wide list of campaigns and the versioned snapshot of the running ones. Key: 0.</summary>
[Alias("zte.ICampaignDirectoryGrain")]
public interface ICampaignDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Records a campaign's new state with what devices need of it while it runs (<paramref name="active"/>, null
    /// when it does not run), and publishes a new snapshot when that changed. Campaigns push; the directory never
    /// calls a campaign grain back, so the two cannot deadlock.
    /// </summary>
    /// <remarks>
    /// <paramref name="revision"/> grows with every change of the campaign's stored state: a record older than the one
    /// held is ignored (a late publication cannot undo a halt), and a repeat of the one held publishes the current
    /// snapshot again without a new version.
    /// </remarks>
    [Alias("RecordRevision")]
    Task RecordAsync(string campaignId, CampaignState state, ActiveCampaign? active, long revision);

    /// <summary>The revision of the campaign the directory last recorded (0 when none), for a campaign to reconcile.</summary>
    [Alias("GetRecordedRevision")]
    Task<long> GetRecordedRevisionAsync(string campaignId);

    /// <summary>Adds a new delta to the running campaigns whose target it matches, and publishes.</summary>
    [Alias("PackageAdded")]
    Task PackageAddedAsync(Packages.PackageRecord package);

    /// <summary>Stops every new offer fleet-wide until unfrozen.</summary>
    [Alias("Freeze")]
    Task<FleetStatus> FreezeAsync(string actor, string reason);

    [Alias("Unfreeze")]
    Task<FleetStatus> UnfreezeAsync(string actor, string reason);

    [Alias("GetFleetStatus")]
    Task<FleetStatus> GetFleetStatusAsync();

    /// <summary>Campaign ids, newest first, optionally in one state.</summary>
    [Alias("List")]
    Task<ImmutableArray<string>> ListAsync(CampaignState? state);

    /// <summary>
    /// The snapshot when newer than <paramref name="knownVersion"/>, else null. The caller's observer is
    /// (re)subscribed by the same call, so a directory that lost its subscribers (it moved to another silo)
    /// has them back within one poll; subscriptions lapse unless renewed this way.
    /// </summary>
    /// <remarks>Interleaved: it serves the last stored and published snapshot, so a poll never waits behind a change.</remarks>
    [Alias("Poll"), AlwaysInterleave]
    Task<CampaignSnapshot?> PollAsync(long knownVersion, ISnapshotObserver? observer);
}

/// <summary>A silo's snapshot cache, told of every new snapshot.</summary>
[Alias("zte.ISnapshotObserver")]
public interface ISnapshotObserver : IGrainObserver
{
    [Alias("OnSnapshot")]
    Task OnSnapshotAsync(CampaignSnapshot snapshot);
}

/// <summary>Whether the fleet is frozen, by whom, why and since when.</summary>
[GenerateSerializer, Immutable, Alias("zte.FleetStatus")]
public sealed record FleetStatus(
    [property: Id(0)] bool Frozen,
    [property: Id(1)] string By,
    [property: Id(2)] string Reason,
    [property: Id(3)] DateTimeOffset? At);

/// <summary>
/// Queries over the device registry (one row per device in the database, written with each device's state), for
/// dry runs. A stateless worker: any silo answers; the key is always 0.
/// </summary>
[Alias("zte.IDeviceRegistryGrain")]
public interface IDeviceRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>How many devices the query admits, and how many of them each stage would expose (cumulative).</summary>
    [Alias("DryRun")]
    Task<DryRunResult> DryRunAsync(DryRunQuery query);
}

/// <summary>A plan reduced to what decides reach: eligibility, target version per model, stages and bucket salt.</summary>
[GenerateSerializer, Immutable, Alias("zte.DryRunQuery")]
public sealed record DryRunQuery(
    [property: Id(0)] Eligibility Eligibility,
    [property: Id(1)] ImmutableDictionary<string, string> TargetVersionByModel,
    [property: Id(2)] bool Rollback,
    [property: Id(3)] string Salt,
    [property: Id(4)] ImmutableArray<double> StagePercents)
{
    /// <summary>For a rollback: per model, the versions its target's signed manifest may replace (only those devices are offered it).</summary>
    [Id(5)]
    public ImmutableDictionary<string, ImmutableArray<string>>? RollbackFromByModel { get; init; }
}

[GenerateSerializer, Immutable, Alias("zte.DryRunResult")]
public sealed record DryRunResult(
    [property: Id(0)] long Eligible,
    [property: Id(1)] ImmutableArray<long> PerStage);
