using ZteRollout.Shared.Campaigns;

namespace ZteRollout.Tests.Domain;

/// <summary>The gate between stages: soak time, completed outcomes and success rate, each named when missing.</summary>
public sealed class StageGateTests
{
    private static readonly DateTimeOffset Start = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly StagePlan Canary = new(Percent: 5, MinSoak: TimeSpan.FromHours(1), GateMinCompleted: 50, GateMinSuccessRate: 0.95);

    [Fact]
    public void Evaluate_SoakedCountedAndSucceeded_IsMet()
    {
        var verdict = StageGates.Evaluate(Canary, Start, Start.AddHours(2), completed: 60, succeeded: 58);

        Assert.Equal(new StageGateVerdict(true, "soaked 2h of 1h; 60 of 50 completed; success 96.7% ≥ 95.0%"), verdict);
    }

    [Fact]
    public void Evaluate_NothingMet_ListsEveryMissingPart()
    {
        var stage = Canary with { GateMinCompleted = 200 };

        var verdict = StageGates.Evaluate(stage, Start, Start.AddMinutes(10), completed: 100, succeeded: 91);

        Assert.Equal(new StageGateVerdict(false, "soaked 10m of 1h; 100 of 200 completed; success 91.0% < 95.0%"), verdict);
    }

    [Fact]
    public void Evaluate_OnlySoakMissing_NamesOnlySoak()
    {
        var verdict = StageGates.Evaluate(Canary with { MinSoak = TimeSpan.FromDays(1) }, Start, Start.AddMinutes(90), completed: 50, succeeded: 50);

        Assert.Equal(new StageGateVerdict(false, "soaked 1h30m of 1d"), verdict);
    }

    [Fact]
    public void Evaluate_SoakExactlyMinimumAndRateExactlyGate_IsMet()
    {
        var verdict = StageGates.Evaluate(Canary, Start, Start.AddHours(1), completed: 100, succeeded: 95);

        Assert.True(verdict.Met);
    }

    [Fact]
    public void Evaluate_OneSecondShortOfSoak_IsNotMet()
    {
        var verdict = StageGates.Evaluate(Canary, Start, Start.AddHours(1).AddSeconds(-1), completed: 100, succeeded: 100);

        Assert.Equal(new StageGateVerdict(false, "soaked 59m59s of 1h"), verdict);
    }

    [Fact]
    public void Evaluate_NothingCompletedWithSuccessGate_IsNotMet()
    {
        var stage = Canary with { MinSoak = TimeSpan.Zero, GateMinCompleted = 0 };

        var verdict = StageGates.Evaluate(stage, Start, Start, completed: 0, succeeded: 0);

        Assert.Equal(new StageGateVerdict(false, "success unknown (nothing completed) < 95.0%"), verdict);
    }

    [Fact]
    public void Evaluate_NothingCompletedWithoutGates_IsMet()
    {
        var verdict = StageGates.Evaluate(CampaignPlan.SingleStage, Start, Start, completed: 0, succeeded: 0);

        Assert.Equal(new StageGateVerdict(true, "soaked 0s of 0s; 0 of 0 completed; success unknown (nothing completed) ≥ 0.0%"), verdict);
    }

    [Fact]
    public void Evaluate_ClockBeforeStageStart_CountsNoSoak()
    {
        var verdict = StageGates.Evaluate(Canary, Start, Start.AddMinutes(-5), completed: 50, succeeded: 50);

        Assert.Equal(new StageGateVerdict(false, "soaked 0s of 1h"), verdict);
    }

    [Fact]
    public void Evaluate_MoreSucceededThanCompleted_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => StageGates.Evaluate(Canary, Start, Start, completed: 1, succeeded: 2));
    }
}
