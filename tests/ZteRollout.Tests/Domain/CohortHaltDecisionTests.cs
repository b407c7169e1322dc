using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Tests.Domain;

/// <summary>
/// <see cref="CohortHalting.Decide"/>, what the campaign grain runs when the policy fires on a cohort-scoped plan: the
/// window's per-device figures name the cohort, the rest is judged without it, and a new window forgets what the
/// previous ones decided.
/// </summary>
public sealed class CohortHaltDecisionTests
{
    private static readonly HaltPolicy Threshold = new(new ThresholdPolicy(MaxFailureRate: 0.2, MinCompleted: 10), null);

    /// <summary>Devices of one hardware revision in one stage: how many succeeded and how many failed for good.</summary>
    private sealed record Revision(string Name, long Succeeded, long Failed);

    /// <summary>Every dimension's values, as the shards report them: each device once per dimension.</summary>
    private static List<CohortStageCounts> Counts(params Revision[] revisions)
    {
        static CampaignCounts Of(long succeeded, long failed) => new(succeeded + failed, 0, 0, succeeded, failed, 0, 0, 0, 0);
        var all = revisions.Aggregate(CampaignCounts.Zero, (sum, r) => sum.Add(Of(r.Succeeded, r.Failed)));
        List<CohortStageCounts> counts =
        [
            new(CohortAttribution.Model, "MF286D", [all]),
            new(CohortAttribution.Region, "EU", [all]),
            new(CohortAttribution.Carrier, "C1", [all]),
            new(CohortAttribution.SourceVersion, "1.0", [all]),
        ];
        counts.AddRange(revisions.Select(r => new CohortStageCounts(CohortAttribution.HardwareRevision, r.Name, [Of(r.Succeeded, r.Failed)])));
        return counts;
    }

    private static readonly Dictionary<string, long> ErrorCodes = new() { ["E_BOOT_LOOP"] = 10 };

    [Fact]
    public void Decide_FailuresConfinedToOneRevision_NamesItAndTheFiguresInsideAndOutside()
    {
        var decision = CohortHalting.Decide(Threshold, Counts(new("R1", 10, 0), new("R2", 10, 0), new("R3", 0, 10)), 1, [], [], ErrorCodes);

        Assert.NotNull(decision);
        Assert.Equal(new HaltedCohort("hardware_revision", "R3"), decision.Cohort);
        Assert.Equal((new StageOutcomes(10, 10, 10), new StageOutcomes(20, 20, 0)), (decision.InCohort, decision.Rest));
        Assert.Equal("cohort hardware_revision=R3: 10 failed of 10 decided (10 offered); rest: 0 failed of 20 decided (20 offered), its policy would not halt",
            CohortHalting.Describe(decision));
    }

    [Fact]
    public void Decide_RestWouldHaltOnItsOwn_HaltsTheWholeCampaign()
    {
        // Without R3, R1 and R2 still fail 5 of 20 (25 % > 20 %): the build is bad beyond one revision.
        var decision = CohortHalting.Decide(Threshold, Counts(new("R1", 5, 5), new("R2", 10, 0), new("R3", 0, 10)), 1, [], [], ErrorCodes);

        Assert.Null(decision);
    }

    [Fact]
    public void Decide_AfterACohortHalt_JudgesOnlyTheNewWindow_AndNamesTheNextCohort()
    {
        // R3 was halted with 10 failures; the window opened then. Since: R1 fails 10 of 10, R2 succeeds 10 of 10, R3 got nothing new.
        var atHalt = Counts(new("R1", 10, 0), new("R2", 10, 0), new("R3", 0, 10));
        var (stages, cohorts) = CohortHalting.Baselines(atHalt, 1);
        var now = Counts(new("R1", 10, 10), new("R2", 20, 0), new("R3", 0, 10));

        var decision = CohortHalting.Decide(Threshold, now, 1, stages, cohorts, ErrorCodes);

        Assert.NotNull(decision);
        Assert.Equal(new HaltedCohort("hardware_revision", "R1"), decision.Cohort);
        Assert.Equal((new StageOutcomes(10, 10, 10), new StageOutcomes(10, 10, 0)), (decision.InCohort, decision.Rest));
    }

    [Fact]
    public void Decide_OnlyTheBlamedCohortGotOffersInTheWindow_HaltsTheWholeCampaign()
    {
        // R1 and R2 were halted before; only R3 still runs, so halting it would leave nothing: the campaign halts.
        var atHalt = Counts(new("R1", 0, 10), new("R2", 0, 10), new("R3", 10, 0));
        var (stages, cohorts) = CohortHalting.Baselines(atHalt, 1);
        var now = Counts(new("R1", 0, 10), new("R2", 0, 10), new("R3", 10, 10));

        Assert.Null(CohortHalting.Decide(Threshold, now, 1, stages, cohorts, ErrorCodes));
    }
}
