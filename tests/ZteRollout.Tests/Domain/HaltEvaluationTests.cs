using ZteRollout.Shared.Campaigns;

namespace ZteRollout.Tests.Domain;

/// <summary>The halting math: each figure against a value computed independently (Python, math.log).</summary>
public sealed class HaltEvaluationTests
{
    private static readonly SequentialPolicy Sprt = new(P0: 0.02, P1: 0.04, Alpha: 0.01, Beta: 0.01);
    private static readonly ThresholdPolicy Threshold = new(MaxFailureRate: 0.05, MinCompleted: 200);

    [Theory]
    [InlineData(0, 0, 0.0)]
    [InlineData(1000, 30, 0.7937068301447248)]
    [InlineData(200, 13, 5.155106640367712)]
    [InlineData(1000, 10, -13.481622525108893)]
    public void LogLikelihoodRatio_Counts_MatchesClosedForm(long completed, long failures, double expected)
    {
        var llr = HaltEvaluation.LogLikelihoodRatio(Sprt, completed, failures);

        Assert.Equal(expected, llr, 12);
    }

    [Fact]
    public void Boundaries_AlphaAndBetaOnePercent_AreLn100AndLnOneOver99()
    {
        var halt = HaltEvaluation.HaltBoundary(Sprt);
        var accept = HaltEvaluation.AcceptBoundary(Sprt);

        Assert.Equal(4.605170185988092, halt, 12);
        Assert.Equal(-4.59511985013459, accept, 12);
    }

    [Fact]
    public void Evaluate_ThresholdExceededAfterMinCompleted_Halts()
    {
        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(Threshold, null), completed: 1000, failures: 61);

        Assert.Equal(new HaltVerdict(true, "threshold", "failure rate 6.1% (61/1000) > 5.0% after ≥ 200 completed", null), verdict);
    }

    [Fact]
    public void Evaluate_EveryDeviceFailedBeforeMinCompleted_DoesNotHalt()
    {
        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(Threshold, null), completed: 199, failures: 199);

        Assert.Equal(new HaltVerdict(false, null, "199 of 200 completed needed before the failure rate is judged", null), verdict);
    }

    [Fact]
    public void Evaluate_RateEqualToThreshold_DoesNotHalt()
    {
        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(Threshold, null), completed: 1000, failures: 50);

        Assert.Equal(new HaltVerdict(false, null, "failure rate 5.0% (50/1000) ≤ 5.0% after ≥ 200 completed", null), verdict);
    }

    [Fact]
    public void Evaluate_LikelihoodRatioAboveHaltBoundary_HaltsSequential()
    {
        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(null, Sprt), completed: 200, failures: 13);

        Assert.True(verdict.ShouldHalt);
        Assert.Equal("sequential", verdict.Policy);
        Assert.Equal("SPRT log-likelihood ratio 5.16 ≥ 4.61 (p0 2.0%, p1 4.0%, α 1.0%)", verdict.Explanation);
        Assert.Equal(5.155106640367712, verdict.LogLikelihoodRatio!.Value, 12);
    }

    [Fact]
    public void Evaluate_LikelihoodRatioJustBelowHaltBoundary_KeepsWatching()
    {
        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(null, Sprt), completed: 200, failures: 12);

        Assert.False(verdict.ShouldHalt);
        Assert.Null(verdict.Policy);
        Assert.Equal("SPRT log-likelihood ratio 4.44 < 4.61 (p0 2.0%, p1 4.0%, α 1.0%)", verdict.Explanation);
    }

    [Fact]
    public void Evaluate_BelowAcceptBoundary_SaysSoAndKeepsWatching()
    {
        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(null, Sprt), completed: 1000, failures: 10);

        Assert.False(verdict.ShouldHalt);
        Assert.Equal(
            "SPRT log-likelihood ratio -13.48 < 4.61 (p0 2.0%, p1 4.0%, α 1.0%); below the accept boundary -4.60: consistent with p0, still watching",
            verdict.Explanation);
    }

    [Fact]
    public void Evaluate_BothPoliciesWouldHalt_NamesThresholdAndReportsLikelihoodRatio()
    {
        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(Threshold, Sprt), completed: 1000, failures: 61);

        Assert.True(verdict.ShouldHalt);
        Assert.Equal("threshold", verdict.Policy);
        Assert.Equal(61 * Math.Log(2) + 939 * Math.Log(0.96 / 0.98), verdict.LogLikelihoodRatio!.Value, 12);
    }

    [Fact]
    public void Evaluate_BothPoliciesQuiet_ExplainsBoth()
    {
        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(Threshold, Sprt), completed: 1000, failures: 30);

        Assert.Equal(
            "failure rate 3.0% (30/1000) ≤ 5.0% after ≥ 200 completed; SPRT log-likelihood ratio 0.79 < 4.61 (p0 2.0%, p1 4.0%, α 1.0%)",
            verdict.Explanation);
        Assert.False(verdict.ShouldHalt);
    }

    [Fact]
    public void Evaluate_NoPolicy_NeverHalts()
    {
        var verdict = HaltEvaluation.Evaluate(HaltPolicy.None, completed: 1000, failures: 1000);

        Assert.Equal(new HaltVerdict(false, null, "no halt policy", null), verdict);
    }

    [Fact]
    public void Evaluate_MoreFailuresThanCompleted_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => HaltEvaluation.Evaluate(new HaltPolicy(Threshold, Sprt), completed: 10, failures: 11));
    }

    [Theory]
    [InlineData(61, 1000, 0.0477797751260337, 0.07758011882428367)]
    [InlineData(0, 10, 0.0, 0.2775327998628892)]
    [InlineData(10, 10, 0.7224672001371107, 1.0)]
    [InlineData(0, 0, 0.0, 1.0)]
    public void WilsonInterval_Counts_MatchesScoreInterval(long failures, long completed, double low, double high)
    {
        var interval = HaltEvaluation.WilsonInterval(failures, completed);

        Assert.Equal(low, interval.Low, 12);
        Assert.Equal(high, interval.High, 12);
    }
}
