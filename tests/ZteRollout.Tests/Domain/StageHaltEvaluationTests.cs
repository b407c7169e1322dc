using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Tests.Domain;

/// <summary>The halt engine over devices, stage by stage (issue 9): counts, in-flight devices, α split, resume windows, gates.</summary>
public sealed class StageHaltEvaluationTests
{
    private static readonly SequentialPolicy Sprt = new(P0: 0.02, P1: 0.04, Alpha: 0.01, Beta: 0.01);
    private static readonly DateTimeOffset Start = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Of_FailuresAwaitingARetry_AreUndecided_AndCancelledOffersAreNotOffered()
    {
        var counts = new CampaignCounts(Offered: 100, InProgress: 5, Installed: 0, Succeeded: 80, Failed: 7, RolledBack: 2, TimedOut: 1, Deferred: 3, Canceled: 5)
        {
            RetryPending = 4,
        };

        var outcomes = StageOutcomes.Of(counts);

        Assert.Equal(new StageOutcomes(Offered: 95, Decided: 86, Failures: 6), outcomes);
        Assert.Equal((9L, 80L), (outcomes.Undecided, outcomes.Succeeded));
    }

    [Fact]
    public void Evaluate_Sequential_EachStageHasBoundaryLnOfStagesOverAlpha_AndCountsInFlightAsSuccesses()
    {
        // 13 failed of 200 offered: ln-ratio 5.155 ≥ ln(1/0.01) = 4.605, but < ln(4/0.01) = 5.991.
        StageOutcomes[] oneStage = [new(200, 150, 13)];
        StageOutcomes[] fourStages = [new(200, 150, 13), default, default, default];

        var single = HaltEvaluation.Evaluate(new HaltPolicy(null, Sprt), oneStage);
        var split = HaltEvaluation.Evaluate(new HaltPolicy(null, Sprt), fourStages);

        Assert.True(single.ShouldHalt);
        Assert.Equal(
            "stage 1: SPRT log-likelihood ratio 5.16 ≥ 4.61 (13 failed of 200 devices offered, 50 undecided counted as successes; p0 2.0%, p1 4.0%, α 1.0% over 1 stage(s))",
            single.Explanation);
        Assert.False(split.ShouldHalt);
        Assert.Equal(5.991464547107982, HaltEvaluation.StageBoundary(Sprt, 4), 12);
        Assert.Equal(5.155106640367712, split.LogLikelihoodRatio!.Value, 12);
    }

    [Fact]
    public void Evaluate_Sequential_JudgesStagesApart_AndNamesTheWorst()
    {
        // Stage 1 at p0 drove its own statistic far down; stage 2 alone crosses ln(2/0.01) = 5.30.
        StageOutcomes[] stages = [new(10_000, 10_000, 200), new(300, 300, 20)];

        var verdict = HaltEvaluation.Evaluate(new HaltPolicy(null, Sprt), stages);
        var pooled = HaltEvaluation.Evaluate(new HaltPolicy(null, Sprt), [new StageOutcomes(10_300, 10_300, 220)]);

        Assert.True(verdict.ShouldHalt);
        Assert.StartsWith("stage 2: SPRT log-likelihood ratio 8.09 ≥ 5.30", verdict.Explanation);
        Assert.False(pooled.ShouldHalt);
    }

    [Fact]
    public void Evaluate_Threshold_RateOverOfferedDevices_OnceEnoughDecided()
    {
        var policy = new HaltPolicy(new ThresholdPolicy(MaxFailureRate: 0.05, MinCompleted: 200), null);

        var early = HaltEvaluation.Evaluate(policy, [new StageOutcomes(1000, 199, 100)]);
        var judged = HaltEvaluation.Evaluate(policy, [new StageOutcomes(1000, 200, 51), default]);
        var quiet = HaltEvaluation.Evaluate(policy, [new StageOutcomes(1000, 900, 50)]);

        Assert.Equal(new HaltVerdict(false, null, "199 of 200 devices decided needed before the failure rate is judged", null), early);
        Assert.Equal(
            new HaltVerdict(true, "threshold", "failure rate 5.1% (51 failed of 1000 devices offered, 800 undecided counted as successes) > 5.0% after ≥ 200 decided", null),
            judged);
        Assert.False(quiet.ShouldHalt);
    }

    [Fact]
    public void Since_ABaselineCountsEveryUndecidedDeviceAsFailed_SoOldDevicesAddNoFailureToTheNewWindow()
    {
        var atResume = new StageOutcomes(Offered: 100, Decided: 90, Failures: 30);
        var baseline = atResume.Baseline();

        // Later: the 10 in flight at the resume all failed, and 50 new devices were offered, 40 decided, 2 failed.
        var later = new StageOutcomes(Offered: 150, Decided: 140, Failures: 42);

        Assert.Equal(new StageBaseline(100, 90, 40), baseline);
        Assert.Equal(new StageOutcomes(Offered: 50, Decided: 50, Failures: 2), later.Since(baseline));
        Assert.Equal(later, later.Since(null));
    }

    [Fact]
    public void Gate_InFlightDevicesCountAsNotSucceeded()
    {
        var stage = new StagePlan(Percent: 5, MinSoak: TimeSpan.FromHours(1), GateMinCompleted: 50, GateMinSuccessRate: 0.95);

        var early = StageGates.Evaluate(stage, Start, Start.AddHours(2), new StageOutcomes(Offered: 100, Decided: 60, Failures: 0));
        var done = StageGates.Evaluate(stage, Start, Start.AddHours(2), new StageOutcomes(Offered: 100, Decided: 100, Failures: 4));

        Assert.Equal(new StageGateVerdict(false, "success 60.0% < 95.0% (60 of 100 offered, 40 in flight counted as not succeeded)"), early);
        Assert.Equal(new StageGateVerdict(true, "soaked 2h of 1h; 100 of 50 completed; success 96.0% ≥ 95.0%"), done);
    }
}
