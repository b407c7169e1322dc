using System.Collections.Immutable;

namespace ZteRollout.Shared.Campaigns;

/// <summary>Which package a targeted model gets: the FULL package; deltas of the same version are found by base.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignTarget")]
public sealed record CampaignTarget([property: Id(0)] string Model, [property: Id(1)] string PackageId);

/// <summary>
/// Which devices a campaign applies to; an empty list or null bound means no restriction. Membership is dynamic:
/// a device that checks in later and matches is included.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.Eligibility")]
public sealed record Eligibility(
    [property: Id(0)] ImmutableArray<string> Models,
    [property: Id(1)] ImmutableArray<string> CurrentVersions,
    [property: Id(2)] string? MinCurrentVersion,
    [property: Id(3)] string? MaxCurrentVersion,
    [property: Id(4)] ImmutableArray<string> HardwareRevisions,
    [property: Id(5)] ImmutableArray<string> Regions,
    [property: Id(6)] ImmutableArray<string> Carriers)
{
    public static Eligibility Everyone { get; } = new([], [], null, null, [], [], []);

    /// <summary>Device tags; a device qualifies when it carries at least one (empty: no restriction).</summary>
    [Id(7)]
    public ImmutableArray<string> Tags { get; init; } = [];

    /// <summary>Devices always included (still subject to model targets and version checks), whatever the other rules say.</summary>
    [Id(8)]
    public ImmutableArray<string> AllowDevices { get; init; } = [];

    /// <summary>Devices never included.</summary>
    [Id(9)]
    public ImmutableArray<string> DenyDevices { get; init; } = [];
}

/// <summary>
/// One stage of a rollout: the cumulative share of eligible devices exposed, how long it must soak, and the
/// success gate it must meet before the next stage may start.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.StagePlan")]
public sealed record StagePlan(
    [property: Id(0)] double Percent,
    [property: Id(1)] TimeSpan MinSoak,
    [property: Id(2)] int GateMinCompleted,
    [property: Id(3)] double GateMinSuccessRate);

/// <summary>Per-device retries: attempts in all (first included), wait between them, and which error codes qualify.</summary>
[GenerateSerializer, Immutable, Alias("zte.RetryPolicy")]
public sealed record RetryPolicy(
    [property: Id(0)] int MaxAttempts,
    [property: Id(1)] TimeSpan Backoff,
    [property: Id(2)] ImmutableArray<string> RetryableErrorCodes)
{
    /// <summary>One attempt, no retries: the default when a plan says nothing.</summary>
    public static RetryPolicy None { get; } = new(1, TimeSpan.Zero, []);

    /// <summary>Whether a failure with this code may be retried (TIMED_OUT counts as the code "E_TIMED_OUT").</summary>
    public bool IsRetryable(string? errorCode) =>
        MaxAttempts > 1 && (RetryableErrorCodes.IsDefaultOrEmpty || RetryableErrorCodes.Contains(errorCode ?? string.Empty));
}

/// <summary>Halt when failures / completed &gt; <see cref="MaxFailureRate"/> once completed ≥ <see cref="MinCompleted"/>.</summary>
[GenerateSerializer, Immutable, Alias("zte.ThresholdPolicy")]
public sealed record ThresholdPolicy([property: Id(0)] double MaxFailureRate, [property: Id(1)] int MinCompleted);

/// <summary>
/// A one-sided sequential probability ratio test of failure rate <see cref="P0"/> (acceptable) against <see cref="P1"/>
/// (unacceptable): halt when the likelihood ratio reaches 1/<see cref="Alpha"/>. By Ville's inequality the chance of
/// ever halting a campaign whose true rate is p0 stays below α however long it is watched.
/// <see cref="Beta"/> is the tolerated chance of missing a p1 campaign, used to report the accept boundary.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.SequentialPolicy")]
public sealed record SequentialPolicy(
    [property: Id(0)] double P0,
    [property: Id(1)] double P1,
    [property: Id(2)] double Alpha,
    [property: Id(3)] double Beta);

/// <summary>When to halt automatically; either, both or neither policy may be set.</summary>
[GenerateSerializer, Immutable, Alias("zte.HaltPolicy")]
public sealed record HaltPolicy(
    [property: Id(0)] ThresholdPolicy? Threshold,
    [property: Id(1)] SequentialPolicy? Sequential)
{
    public static HaltPolicy None { get; } = new(null, null);
}

/// <summary>At most <see cref="MaxOffersPerMinute"/> new offers a minute; with a ramp, the limit starts at
/// <see cref="InitialOffersPerMinute"/> and doubles every <see cref="RampDoublingTime"/> up to the maximum.</summary>
[GenerateSerializer, Immutable, Alias("zte.RateLimit")]
public sealed record RateLimit(
    [property: Id(0)] int MaxOffersPerMinute,
    [property: Id(1)] int? InitialOffersPerMinute,
    [property: Id(2)] TimeSpan? RampDoublingTime);

/// <summary>What a campaign does, as a release manager wrote it.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignPlan")]
public sealed record CampaignPlan(
    [property: Id(0)] string Name,
    [property: Id(1)] ImmutableArray<CampaignTarget> Targets,
    [property: Id(2)] Eligibility Eligibility,
    [property: Id(3)] int Priority,
    [property: Id(4)] TimeSpan InProgressTimeout)
{
    public static TimeSpan DefaultInProgressTimeout { get; } = TimeSpan.FromDays(1);

    /// <summary>Cumulative stages; the default is one stage at 100 % with no soak or gate.</summary>
    [Id(5)]
    public ImmutableArray<StagePlan> Stages { get; init; } = [SingleStage];

    /// <summary>Whether a stage that soaked and met its gate starts the next by itself.</summary>
    [Id(6)]
    public bool AutoAdvance { get; init; } = true;

    [Id(7)]
    public RetryPolicy Retry { get; init; } = RetryPolicy.None;

    [Id(8)]
    public HaltPolicy Halt { get; init; } = HaltPolicy.None;

    [Id(9)]
    public RateLimit? RateLimit { get; init; }

    /// <summary>An explicit rollback campaign: the only kind that may offer a version below the device's.</summary>
    [Id(10)]
    public bool Rollback { get; init; }

    /// <summary>
    /// Health-gated success: a device's SUCCEEDED counts for halts and stage gates only once the device is seen healthy
    /// on the new version at least this long after its success (null: a success counts when reported). A rollback or
    /// failure before then counts as a failure (docs/design.md, "Health-gated success").
    /// </summary>
    [Id(20)]
    public TimeSpan? HealthWindow { get; init; }

    /// <summary>
    /// What a halt of the policy stops: the whole campaign (the default), or, with <see cref="HaltScope.Cohort"/>,
    /// only the cohort value its failures concentrate in when the rest would not halt on its own (<see cref="CohortHalting"/>).
    /// </summary>
    [Id(21)]
    public HaltScope HaltScope { get; init; } = HaltScope.Campaign;

    public static StagePlan SingleStage { get; } = new(100, TimeSpan.Zero, 0, 0);
}

/// <summary>What an automatic halt stops (issue 9, point 5).</summary>
[GenerateSerializer]
public enum HaltScope
{
    /// <summary>The whole campaign halts.</summary>
    Campaign = 1,

    /// <summary>Only the cohort value the failures concentrate in halts, when the rest of the campaign would not.</summary>
    Cohort = 2,
}

/// <summary>Lifecycle state of a campaign (DESIGN.md, campaign lifecycle).</summary>
[GenerateSerializer]
public enum CampaignState
{
    Draft = 1,
    Running = 2,
    Completed = 3,
    Canceled = 4,
    Paused = 5,
    Halted = 6,
}

/// <summary>One entry of a campaign's audit log: who did what, when, why.</summary>
[GenerateSerializer, Immutable, Alias("zte.AuditEntry")]
public sealed record AuditEntry(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Actor,
    [property: Id(2)] string Action,
    [property: Id(3)] string Reason)
{
    /// <summary>The figures behind an automatic decision (counts, rates, statistic); empty for manual actions.</summary>
    [Id(4)]
    public string Figures { get; init; } = string.Empty;
}
