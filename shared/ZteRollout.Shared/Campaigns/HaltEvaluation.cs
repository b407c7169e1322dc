using System.Globalization;

namespace ZteRollout.Shared.Campaigns;

/// <summary>
/// Whether a campaign's outcomes call for an automatic halt, which policy said so and why, in figures an SRE can check.
/// <see cref="LogLikelihoodRatio"/> is set whenever the plan has a sequential policy, halting or not.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.HaltVerdict")]
public sealed record HaltVerdict(
    [property: Id(0)] bool ShouldHalt,
    [property: Id(1)] string? Policy,
    [property: Id(2)] string Explanation,
    [property: Id(3)] double? LogLikelihoodRatio);

/// <summary>
/// The halting math of DESIGN.md "Halting": a threshold on the failure rate once enough outcomes are in, and a
/// one-sided sequential probability ratio test of p0 against p1. Counts are cumulative over the campaign;
/// failures are FAILED + ROLLED_BACK + TIMED_OUT and are part of completed.
/// </summary>
public static class HaltEvaluation
{
    public const string ThresholdPolicyName = "threshold";
    public const string SequentialPolicyName = "sequential";

    /// <summary>The two-sided 95 % normal quantile, the default width of <see cref="WilsonInterval"/>.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>ln of the likelihood of the outcomes under p1 over their likelihood under p0.</summary>
    public static double LogLikelihoodRatio(SequentialPolicy p, long completed, long failures)
    {
        CheckCounts(completed, failures);
        return (failures * Math.Log(p.P1 / p.P0)) + ((completed - failures) * Math.Log((1 - p.P1) / (1 - p.P0)));
    }

    /// <summary>
    /// ln(1/α). Under p0 the likelihood ratio is a nonnegative martingale starting at 1, so by Ville's inequality it
    /// ever reaches 1/α with probability at most α, however often it is looked at: checking every batch is safe.
    /// </summary>
    public static double HaltBoundary(SequentialPolicy p) => Math.Log(1 / p.Alpha);

    /// <summary>
    /// ln(β/(1−α)), Wald's accept boundary. Only reported: a campaign keeps being watched after crossing it, because
    /// a build can go bad later (a region or model reached only in a later stage).
    /// </summary>
    public static double AcceptBoundary(SequentialPolicy p) => Math.Log(p.Beta / (1 - p.Alpha));

    /// <summary>
    /// Evaluates every policy of the plan; the threshold is judged first, so when both would halt the verdict names it.
    /// No policy never halts.
    /// </summary>
    public static HaltVerdict Evaluate(HaltPolicy policy, long completed, long failures)
    {
        CheckCounts(completed, failures);
        double? llr = policy.Sequential is { } sequential ? LogLikelihoodRatio(sequential, completed, failures) : null;
        if (policy.Threshold is { } threshold && ThresholdHalts(threshold, completed, failures))
        {
            return new HaltVerdict(true, ThresholdPolicyName, DescribeThreshold(threshold, completed, failures), llr);
        }

        if (policy.Sequential is { } halting && llr is { } ratio && ratio >= HaltBoundary(halting))
        {
            return new HaltVerdict(true, SequentialPolicyName, DescribeSequential(halting, ratio), llr);
        }

        if (policy.Threshold is null && policy.Sequential is null)
        {
            return new HaltVerdict(false, null, "no halt policy", null);
        }

        var parts = new List<string>(2);
        if (policy.Threshold is { } notHalting)
        {
            parts.Add(DescribeThreshold(notHalting, completed, failures));
        }

        if (policy.Sequential is { } watching && llr is { } watched)
        {
            parts.Add(DescribeSequential(watching, watched));
        }

        return new HaltVerdict(false, null, string.Join("; ", parts), llr);
    }

    /// <summary>
    /// The Wilson score interval of a failure rate: unlike the normal approximation it stays inside [0, 1] and does
    /// not collapse to a point at 0 or n failures. (0, 1) when nothing completed.
    /// </summary>
    public static (double Low, double High) WilsonInterval(long failures, long completed, double z = Z95)
    {
        CheckCounts(completed, failures);
        if (completed == 0)
        {
            return (0, 1);
        }

        double n = completed;
        var rate = failures / n;
        var z2 = z * z;
        var denominator = 1 + (z2 / n);
        var center = (rate + (z2 / (2 * n))) / denominator;
        var half = z / denominator * Math.Sqrt((rate * (1 - rate) / n) + (z2 / (4 * n * n)));

        // At 0 or n failures the exact bound is 0 or 1; rounding would otherwise leave 1e-17 or 1 − 1e-16.
        var low = failures == 0 ? 0 : Math.Max(0, center - half);
        var high = failures == completed ? 1 : Math.Min(1, center + half);
        return (low, high);
    }

    /// <summary>The halt decision of <see cref="Evaluate"/> without building its explanation, for hot loops.</summary>
    internal static bool ShouldHalt(HaltPolicy policy, long completed, long failures) =>
        (policy.Threshold is { } threshold && ThresholdHalts(threshold, completed, failures))
        || (policy.Sequential is { } sequential && LogLikelihoodRatio(sequential, completed, failures) >= HaltBoundary(sequential));

    private static bool ThresholdHalts(ThresholdPolicy threshold, long completed, long failures) =>
        completed > 0 && completed >= threshold.MinCompleted && (double)failures / completed > threshold.MaxFailureRate;

    private static string DescribeThreshold(ThresholdPolicy threshold, long completed, long failures)
    {
        if (completed == 0 || completed < threshold.MinCompleted)
        {
            return Invariant($"{completed} of {threshold.MinCompleted} completed needed before the failure rate is judged");
        }

        var rate = (double)failures / completed;
        var comparison = rate > threshold.MaxFailureRate ? ">" : "≤";
        return Invariant(
            $"failure rate {rate:0.0%} ({failures}/{completed}) {comparison} {threshold.MaxFailureRate:0.0%} after ≥ {threshold.MinCompleted} completed");
    }

    private static string DescribeSequential(SequentialPolicy p, double llr)
    {
        var boundary = HaltBoundary(p);
        var comparison = llr >= boundary ? "≥" : "<";
        var text = Invariant($"SPRT log-likelihood ratio {llr:0.00} {comparison} {boundary:0.00} (p0 {p.P0:0.0%}, p1 {p.P1:0.0%}, α {p.Alpha:0.0%})");
        var accept = AcceptBoundary(p);
        return llr <= accept ? text + Invariant($"; below the accept boundary {accept:0.00}: consistent with p0, still watching") : text;
    }

    private static void CheckCounts(long completed, long failures)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(completed);
        ArgumentOutOfRangeException.ThrowIfNegative(failures);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(failures, completed);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
