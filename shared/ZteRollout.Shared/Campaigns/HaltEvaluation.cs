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
    /// The halt decision over a campaign's devices, stage by stage (docs/design.md, "What the halt policies
    /// guarantee"). Each device counts once, with its final result; a device still in flight counts as a success
    /// until it reports, so the order in which results arrive cannot make a good build look bad. The sequential test
    /// runs separately in every stage (a build that goes bad in a later stage meets a fresh test, not one that p0
    /// outcomes drove far below zero) with α split evenly: ln(stages/α) is each stage's boundary. The threshold judges
    /// the failure rate over all devices offered, in flight counted as successes, once enough devices have decided.
    /// <paramref name="stages"/> holds one entry per stage of the plan.
    /// </summary>
    public static HaltVerdict Evaluate(HaltPolicy policy, ReadOnlySpan<StageOutcomes> stages)
    {
        var total = Total(stages);
        double? llr = null;
        var worstStage = 0;
        if (policy.Sequential is { } sequential)
        {
            (llr, worstStage) = WorstStage(sequential, stages);
        }

        if (policy.Threshold is { } threshold && ThresholdHalts(threshold, total))
        {
            return new HaltVerdict(true, ThresholdPolicyName, DescribeThreshold(threshold, total), llr);
        }

        if (policy.Sequential is { } halting && llr is { } ratio && ratio >= StageBoundary(halting, stages.Length))
        {
            return new HaltVerdict(true, SequentialPolicyName, DescribeStage(halting, stages, worstStage, ratio), llr);
        }

        if (policy.Threshold is null && policy.Sequential is null)
        {
            return new HaltVerdict(false, null, "no halt policy", null);
        }

        var parts = new List<string>(2);
        if (policy.Threshold is { } notHalting)
        {
            parts.Add(DescribeThreshold(notHalting, total));
        }

        if (policy.Sequential is { } watching && llr is { } watched)
        {
            parts.Add(DescribeStage(watching, stages, worstStage, watched));
        }

        return new HaltVerdict(false, null, string.Join("; ", parts), llr);
    }

    /// <summary>The halt decision of <see cref="Evaluate(HaltPolicy, ReadOnlySpan{StageOutcomes})"/> without its explanation, for hot loops.</summary>
    public static bool ShouldHalt(HaltPolicy policy, ReadOnlySpan<StageOutcomes> stages)
    {
        if (policy.Threshold is { } threshold && ThresholdHalts(threshold, Total(stages)))
        {
            return true;
        }

        return policy.Sequential is { } sequential && WorstStage(sequential, stages).Llr >= StageBoundary(sequential, stages.Length);
    }

    /// <summary>
    /// ln(stages/α): each stage's test gets α/stages, so a p0 campaign halts with probability at most α over all its
    /// stages (until an SRE resumes it, which opens a new window and spends α again).
    /// </summary>
    public static double StageBoundary(SequentialPolicy p, int stages) => Math.Log(Math.Max(1, stages) / p.Alpha);

    /// <summary>
    /// The stage's log-likelihood ratio with every undecided device counted as a success. The ratio over all offered
    /// devices with their eventual results is a p0-martingale in offer order; this one never exceeds it (a failure
    /// adds ln(p1/p0) &gt; 0, a success ln((1−p1)/(1−p0)) &lt; 0), so Ville's bound holds whatever order results arrive in.
    /// </summary>
    public static double StageLogLikelihoodRatio(SequentialPolicy p, StageOutcomes stage) =>
        LogLikelihoodRatio(p, stage.Offered, stage.Failures);

    private static (double Llr, int Stage) WorstStage(SequentialPolicy p, ReadOnlySpan<StageOutcomes> stages)
    {
        // A stage nothing was offered in yet has ratio 0; it is named only when no stage has anything.
        (double Llr, int Stage)? worst = null;
        for (var i = 0; i < stages.Length; i++)
        {
            if (stages[i].Offered == 0)
            {
                continue;
            }

            var llr = StageLogLikelihoodRatio(p, stages[i]);
            if (worst is not { } known || llr > known.Llr)
            {
                worst = (llr, i);
            }
        }

        return worst ?? (0, 0);
    }

    private static StageOutcomes Total(ReadOnlySpan<StageOutcomes> stages)
    {
        var total = StageOutcomes.None;
        foreach (var stage in stages)
        {
            total = total.Add(stage);
        }

        return total;
    }

    private static bool ThresholdHalts(ThresholdPolicy threshold, StageOutcomes total) =>
        total.Decided > 0 && total.Decided >= threshold.MinCompleted && (double)total.Failures / total.Offered > threshold.MaxFailureRate;

    private static string DescribeThreshold(ThresholdPolicy threshold, StageOutcomes total)
    {
        if (total.Decided == 0 || total.Decided < threshold.MinCompleted)
        {
            return Invariant($"{total.Decided} of {threshold.MinCompleted} devices decided needed before the failure rate is judged");
        }

        var rate = (double)total.Failures / total.Offered;
        var comparison = rate > threshold.MaxFailureRate ? ">" : "≤";
        return Invariant(
            $"failure rate {rate:0.0%} ({total.Failures} failed of {total.Offered} devices offered, {total.Undecided} undecided counted as successes) {comparison} {threshold.MaxFailureRate:0.0%} after ≥ {threshold.MinCompleted} decided");
    }

    private static string DescribeStage(SequentialPolicy p, ReadOnlySpan<StageOutcomes> stages, int stage, double llr)
    {
        var boundary = StageBoundary(p, stages.Length);
        var comparison = llr >= boundary ? "≥" : "<";
        var figures = stages.Length == 0 ? StageOutcomes.None : stages[stage];
        return Invariant(
            $"stage {stage + 1}: SPRT log-likelihood ratio {llr:0.00} {comparison} {boundary:0.00} ({figures.Failures} failed of {figures.Offered} devices offered, {figures.Undecided} undecided counted as successes; p0 {p.P0:0.0%}, p1 {p.P1:0.0%}, α {p.Alpha:0.0%} over {stages.Length} stage(s))");
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
