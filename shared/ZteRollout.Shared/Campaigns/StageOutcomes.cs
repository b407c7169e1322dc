using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Campaigns;

/// <summary>
/// One stage's devices as the halt policy and the stage gate judge them: each device counts once, in the stage whose
/// bucket exposed it. <see cref="Offered"/> is every device that got an offer (cancelled offers excepted),
/// <see cref="Decided"/> those whose result is final (succeeded, or failed with no retry left), <see cref="Failures"/>
/// the decided failures. A device still in flight (open offer, or a failure that will be retried) is undecided.
/// </summary>
public readonly record struct StageOutcomes(long Offered, long Decided, long Failures)
{
    public static StageOutcomes None => default;

    /// <summary>Offered devices without a final result yet.</summary>
    public long Undecided => Offered - Decided;

    public long Succeeded => Decided - Failures;

    /// <summary>A stage's per-device figures from its counts by latest status (a failure awaiting its retry is undecided).</summary>
    public static StageOutcomes Of(CampaignCounts counts)
    {
        var offered = Math.Max(0, counts.Offered - counts.Canceled);
        var failures = Math.Max(0, counts.Failed + counts.RolledBack + counts.TimedOut - counts.RetryPending);
        var decided = Math.Min(offered, counts.Succeeded + failures);
        return new StageOutcomes(offered, decided, Math.Min(failures, decided));
    }

    /// <summary>
    /// The outcomes since <paramref name="baseline"/> was taken (an SRE resumed a halted campaign). The baseline counts
    /// every device undecided at the time as failed, so a device offered before the resume can add no failure to the
    /// window: the window's failures never exceed those of devices offered after it opened.
    /// </summary>
    public StageOutcomes Since(StageBaseline? baseline)
    {
        if (baseline is null)
        {
            return this;
        }

        var offered = Math.Max(0, Offered - baseline.Offered);
        var failures = Math.Clamp(Failures - baseline.FailuresOrUndecided, 0, offered);
        var decided = Math.Clamp(Decided - baseline.Decided, failures, offered);
        return new StageOutcomes(offered, decided, failures);
    }

    /// <summary>The baseline a resume takes of this stage (see <see cref="Since"/>).</summary>
    public StageBaseline Baseline() => new(Offered, Decided, Failures + Undecided);

    public StageOutcomes Add(StageOutcomes other) => new(Offered + other.Offered, Decided + other.Decided, Failures + other.Failures);
}

/// <summary>A stage's figures when an SRE resumed its halted campaign: the halt policy judges only what came after.</summary>
[GenerateSerializer, Immutable, Alias("zte.StageBaseline")]
public sealed record StageBaseline(
    [property: Id(0)] long Offered,
    [property: Id(1)] long Decided,
    [property: Id(2)] long FailuresOrUndecided);
