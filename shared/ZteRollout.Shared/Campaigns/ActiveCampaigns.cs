using System.Collections.Immutable;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Shared.Campaigns;

/// <summary>What a device grain needs of one running campaign to decide on its own, without calling the campaign.</summary>
[GenerateSerializer, Immutable, Alias("zte.ActiveCampaign")]
public sealed record ActiveCampaign(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] int Priority,
    [property: Id(2)] Eligibility Eligibility,
    [property: Id(3)] TimeSpan InProgressTimeout,
    [property: Id(4)] ImmutableDictionary<string, ModelTarget> TargetsByModel)
{
    /// <summary>Salt of the campaign's device buckets (its id, so a dry run predicts the real buckets).</summary>
    [Id(5)]
    public string Salt { get; init; } = CampaignId;

    /// <summary>Cumulative percent of eligible devices that may get new offers now; 0 while paused or halted.</summary>
    [Id(6)]
    public double ExposurePercent { get; init; } = 100;

    /// <summary>The stages' cumulative percents, to name the stage a device's bucket falls in.</summary>
    [Id(7)]
    public ImmutableArray<double> StagePercents { get; init; } = [100];

    [Id(8)]
    public RetryPolicy Retry { get; init; } = RetryPolicy.None;

    [Id(9)]
    public bool Rollback { get; init; }

    [Id(10)]
    public RateLimit? RateLimit { get; init; }

    /// <summary>When the rate limit's ramp began (the campaign's start).</summary>
    [Id(11)]
    public DateTimeOffset RampStartedAt { get; init; }

    /// <summary>
    /// The campaign is HALTED (exposure 0, like a paused one): device grains withdraw its offers whose download has
    /// not started, and refuse their downloads. A paused campaign keeps them. False, the default, means running or paused.
    /// </summary>
    [Id(12)]
    public bool Halted { get; init; }

    /// <summary>The plan's health window: a device's success is confirmed only once it is seen healthy this long after it (null: none).</summary>
    [Id(20)]
    public TimeSpan? HealthWindow { get; init; }

    /// <summary>Cohort values halted on their own (a cohort-scoped halt): their devices get no new offer from this campaign.</summary>
    [Id(13)]
    public ImmutableArray<HaltedCohort> HaltedCohorts { get; init; } = [];

    /// <summary>The stage a bucket first falls in (0-based), or -1 when no stage reaches it.</summary>
    public int StageOf(int bucket)
    {
        for (var i = 0; i < StagePercents.Length; i++)
        {
            if (Bucketing.IsExposed(bucket, StagePercents[i]))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>The packages a campaign offers one model: the FULL package and the deltas to the same version.</summary>
[GenerateSerializer, Immutable, Alias("zte.ModelTarget")]
public sealed record ModelTarget(
    [property: Id(0)] PackageRecord Full,
    [property: Id(1)] ImmutableArray<PackageRecord> Deltas);

/// <summary>
/// The running campaigns of the whole fleet at one version. Every silo caches the newest it has seen;
/// device grains decide from it, so a check-in never calls a campaign grain.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignSnapshot")]
public sealed record CampaignSnapshot(
    [property: Id(0)] long Version,
    [property: Id(1)] ImmutableArray<ActiveCampaign> Campaigns)
{
    public static CampaignSnapshot Empty { get; } = new(0, []);

    /// <summary>While true no campaign makes a new offer (an SRE froze the fleet).</summary>
    [Id(2)]
    public bool Frozen { get; init; }

    /// <summary>
    /// When the directory published this version (real time, like the pushes): a silo taking it measures how long it
    /// took to arrive (<see cref="Telemetry.RolloutMetrics.SnapshotReceived"/>).
    /// </summary>
    [Id(3)]
    public DateTimeOffset PublishedAt { get; init; }

    /// <summary>The campaign with this id, or null when the snapshot does not hold it (it is not running, paused or halted).</summary>
    public ActiveCampaign? Find(string campaignId)
    {
        if (Campaigns.IsDefault)
        {
            return null;
        }

        foreach (var campaign in Campaigns)
        {
            if (campaign.CampaignId == campaignId)
            {
                return campaign;
            }
        }

        return null;
    }
}
