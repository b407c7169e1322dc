using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Campaigns;

/// <summary>
/// Cohort-scoped halts (issue 9, point 5; engine and simulation only so far): when the campaign's halt policy fires,
/// the attribution names a cohort value, and the policy over everything outside that value would not halt, only that
/// cohort stops and the rest of the campaign goes on, judged in a new window. No separate per-cohort test runs, so no α is shared out: a cohort halt happens only when the
/// campaign-level test fires, which at p0 happens with probability ≤ α per window; each cohort halt opens a new window
/// for the rest (like an SRE resume) and so spends another α.
/// </summary>
public static class CohortHalting
{
    /// <summary>
    /// The cohort to halt instead of the whole campaign, or null: the attribution must name a cohort value that does
    /// not hold every decided device (a value every device shares is the campaign), and the halt policy over the rest
    /// of the window — the campaign without that value — must not halt on its own (<paramref name="restWouldHalt"/>).
    /// </summary>
    public static (string Dimension, string Value)? Narrow(FailureBlame blame, long decided, bool restWouldHalt) =>
        blame is { Dimension: { } dimension, Value: { } value } && blame.TotalFailures > 0 && blame.CompletedInCohort < decided && !restWouldHalt
            ? (dimension, value)
            : null;

    /// <summary>The device's value in one attribution dimension ("model", "hardware_revision", …); null for an unknown dimension.</summary>
    public static string? ValueOf(Cohort cohort, string dimension) => dimension switch
    {
        CohortAttribution.Model => cohort.Model,
        CohortAttribution.HardwareRevision => cohort.HardwareRevision,
        CohortAttribution.Region => cohort.Region,
        CohortAttribution.Carrier => cohort.Carrier,
        CohortAttribution.SourceVersion => cohort.SourceVersion,
        _ => null,
    };
}
