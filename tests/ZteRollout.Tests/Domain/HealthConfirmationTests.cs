using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Tests.Domain;

/// <summary>
/// Health-gated success (issue 9, point 4) as pure functions: what a sighting makes of a watched success, how pending
/// confirmations count for halts and gates, and what the plan accepts.
/// </summary>
public sealed class HealthConfirmationTests
{
    private static readonly DateTimeOffset SucceededAt = new(2026, 5, 4, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(10);
    private static readonly SequentialPolicy Sprt = new(P0: 0.02, P1: 0.04, Alpha: 0.01, Beta: 0.01);

    private static readonly OfferRecord Offer = new("o-1", "c-1", "pkg-2", "2.0", [], [], 10, "00", OfferStatus.Succeeded, 10, null,
        SucceededAt.AddHours(-1), SucceededAt, SucceededAt.AddDays(1), [], "1.0")
    {
        SourceSlot = BootSlot.A,
    };

    private static readonly HealthWatch Watch = HealthConfirmation.Start(Offer, Window, SucceededAt)!;

    [Fact]
    public void Start_WithoutAWindow_WatchesNothing_WithOne_ConfirmsFromTheWindowsEnd()
    {
        Assert.Null(HealthConfirmation.Start(Offer, null, SucceededAt));
        Assert.Null(HealthConfirmation.Start(Offer, TimeSpan.Zero, SucceededAt));
        Assert.Equal(new HealthWatch("o-1", SucceededAt, SucceededAt.AddMinutes(10)), Watch);
    }

    [Theory]
    [InlineData("2.0", BootSlot.B, 9 * 60 + 59, HealthVerdict.Pending)]
    [InlineData("2.0", BootSlot.B, 10 * 60, HealthVerdict.Confirmed)]
    [InlineData("2.0", BootSlot.Unspecified, 10 * 60, HealthVerdict.Confirmed)]
    [InlineData("1.0", BootSlot.A, 60, HealthVerdict.RolledBack)]
    [InlineData("1.0", BootSlot.Unspecified, 60 * 60, HealthVerdict.RolledBack)]
    [InlineData("2.0", BootSlot.A, 60 * 60, HealthVerdict.RolledBack)]
    [InlineData("3.0", BootSlot.B, 60, HealthVerdict.LeftTarget)]
    public void OfCheckIn_JudgesVersionAndSlot_ThenTheWindow(string running, BootSlot slot, int secondsAfterSuccess, HealthVerdict expected)
    {
        var verdict = HealthConfirmation.OfCheckIn(Offer, Watch, running, slot, SucceededAt.AddSeconds(secondsAfterSuccess));

        Assert.Equal(expected, verdict);
    }

    [Fact]
    public void OfReport_SucceededIsASighting_RollbackAndFailureAreFailuresWhenever_OtherStepsSayNothing()
    {
        var early = SucceededAt.AddMinutes(1);
        var late = SucceededAt.AddHours(5);

        Assert.Equal(
            (HealthVerdict.Pending, HealthVerdict.Confirmed, HealthVerdict.RolledBack, HealthVerdict.Failed, (HealthVerdict?)null),
            (HealthConfirmation.OfReport(Watch, OfferStatus.Succeeded, early), HealthConfirmation.OfReport(Watch, OfferStatus.Succeeded, late),
                HealthConfirmation.OfReport(Watch, OfferStatus.RolledBack, late), HealthConfirmation.OfReport(Watch, OfferStatus.Failed, early),
                HealthConfirmation.OfReport(Watch, OfferStatus.Downloading, early)));
        Assert.Equal((OfferStatus.RolledBack, "E_ROLLED_BACK_IN_HEALTH_WINDOW"), HealthConfirmation.Failure(HealthVerdict.RolledBack));
        Assert.Equal((OfferStatus.Failed, "E_LEFT_TARGET_IN_HEALTH_WINDOW"), HealthConfirmation.Failure(HealthVerdict.LeftTarget));
    }

    [Fact]
    public void NextCheckInSeconds_NoLaterThanTheWindowsEnd_AtLeastOneSecond()
    {
        Assert.Equal(240, HealthConfirmation.NextCheckInSeconds(Watch, SucceededAt.AddMinutes(6), interval: 3600));
        Assert.Equal(60, HealthConfirmation.NextCheckInSeconds(Watch, SucceededAt.AddMinutes(1), interval: 60));
        Assert.Equal(1, HealthConfirmation.NextCheckInSeconds(Watch, SucceededAt.AddMinutes(30), interval: 3600));
    }

    [Fact]
    public void StageOutcomes_PendingConfirmationsAreUndecided_NeitherSuccessesNorFailures()
    {
        var counts = new CampaignCounts(Offered: 100, InProgress: 10, Installed: 0, Succeeded: 50, Failed: 4, RolledBack: 1, TimedOut: 0, Deferred: 0, Canceled: 0)
        {
            PendingConfirmation = 35,
        };

        var outcomes = StageOutcomes.Of(counts);

        Assert.Equal(new StageOutcomes(Offered: 100, Decided: 55, Failures: 5), outcomes);
        Assert.Equal((45L, 50L, 55L), (outcomes.Undecided, outcomes.Succeeded, counts.Finished));
        Assert.Equal(45L, counts.Open);
    }

    [Fact]
    public void Halt_APendingSuccessCountsAsASuccessUntilItRollsBack_ThenAsAFailure()
    {
        // 200 offered, 10 failed, 30 pending confirmation: the pending ones weigh as successes, as in-flight devices do.
        var pending = new StageOutcomes(Offered: 200, Decided: 170, Failures: 10);
        var oneRolledBack = new StageOutcomes(Offered: 200, Decided: 171, Failures: 11);

        var before = HaltEvaluation.StageLogLikelihoodRatio(Sprt, pending);
        var after = HaltEvaluation.StageLogLikelihoodRatio(Sprt, oneRolledBack);

        Assert.Equal(HaltEvaluation.LogLikelihoodRatio(Sprt, 200, 10), before, 12);
        Assert.Equal(Math.Log(0.04 / 0.02) - Math.Log(0.96 / 0.98), after - before, 12);
    }

    [Fact]
    public void Gate_PendingConfirmationsCountAsNotSucceeded_UntilConfirmed()
    {
        var stage = new StagePlan(Percent: 10, MinSoak: TimeSpan.Zero, GateMinCompleted: 3, GateMinSuccessRate: 1.0);
        var start = SucceededAt.AddHours(-1);
        var counts = new CampaignCounts(3, 0, 0, 0, 0, 0, 0, 0, 0) { PendingConfirmation = 3 };

        var pending = StageGates.Evaluate(stage, start, SucceededAt, StageOutcomes.Of(counts));
        var confirmed = StageGates.Evaluate(stage, start, SucceededAt, StageOutcomes.Of(counts with { Succeeded = 3, PendingConfirmation = 0 }));

        Assert.Equal(new StageGateVerdict(false, "0 of 3 completed; success 0.0% < 100.0% (0 of 3 offered, 3 in flight counted as not succeeded)"), pending);
        Assert.Equal(new StageGateVerdict(true, "soaked 1h of 0s; 3 of 3 completed; success 100.0% ≥ 100.0%"), confirmed);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-600)]
    [InlineData(59)]
    [InlineData(31 * 86_400)]
    public void Validator_HealthWindowOutOfRange_NamesTheField(int seconds)
    {
        var plan = Plan() with { HealthWindow = TimeSpan.FromSeconds(seconds) };

        var problems = CampaignPlanValidator.ValidateShape(plan);

        Assert.Equal(
            [("plan.health.window_seconds", $"must be between 60 and 2592000 seconds (is {seconds})")],
            problems.Select(p => (p.Field, p.Description)));
    }

    [Fact]
    public void Validator_TenMinuteWindowOrNone_IsValid()
    {
        Assert.Empty(CampaignPlanValidator.ValidateShape(Plan() with { HealthWindow = Window }));
        Assert.Empty(CampaignPlanValidator.ValidateShape(Plan()));
    }

    private static CampaignPlan Plan() =>
        new("health", ImmutableArray.Create(new CampaignTarget("M", "pkg-2")), Eligibility.Everyone, 0, TimeSpan.FromHours(1));
}
