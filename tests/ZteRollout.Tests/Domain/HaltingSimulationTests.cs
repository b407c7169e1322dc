using System.Collections.Immutable;
using Xunit.Abstractions;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Tests.Domain;

/// <summary>
/// The halting claims of DESIGN.md, measured by seeded simulation (no cluster): 100,000 devices, stages 1/5/25/100 %,
/// a sequential test of p0 = 2 % against p1 = 4 % with α = β = 1 %, checked after every 50 outcomes.
/// </summary>
public sealed class HaltingSimulationTests(ITestOutputHelper output)
{
    private const int Campaigns = 1000;
    private const int Fleet = 100_000;
    private static readonly ImmutableArray<double> Stages = [1, 5, 25, 100];
    private static readonly HaltPolicy Sprt = new(null, new SequentialPolicy(P0: 0.02, P1: 0.04, Alpha: 0.01, Beta: 0.01));

    [Fact]
    public void Sequential_TrueRateAtP0_HaltsAtMostOnePointFivePercentOfCampaigns()
    {
        var settings = new RolloutSimulationSettings(Fleet, Stages, Sprt, RolloutSimulationSettings.UniformFleet(0.02), Seed: 1_000);

        var results = RolloutSimulation.RunMany(settings, Campaigns);

        var halted = results.Count(r => r.Halted);
        var rate = (double)halted / Campaigns;
        output.WriteLine($"false halts at p0: {halted}/{Campaigns} = {rate:P1} (α = 1 %)");
        Assert.True(rate <= 0.015, $"{halted} of {Campaigns} campaigns at p0 halted");
        Assert.All(results.Where(r => !r.Halted), r => Assert.Equal((Fleet, Fleet, 3), (r.OutcomesAtHalt, r.ExposedDevicesAtHalt, r.StageIndexAtHalt)));
    }

    [Fact]
    public void Sequential_TrueRateAtP1_HaltsBeforeExposurePassesSecondStage()
    {
        var settings = new RolloutSimulationSettings(Fleet, Stages, Sprt, RolloutSimulationSettings.UniformFleet(0.04), Seed: 2_000);

        var results = RolloutSimulation.RunMany(settings, Campaigns);

        var early = results.Count(r => r.Halted && r.StageIndexAtHalt <= 1);
        var outcomes = results.Where(r => r.Halted).Select(r => r.OutcomesAtHalt).Order().ToArray();
        var median = outcomes.Length == 0 ? 0 : outcomes[outcomes.Length / 2];
        var inFirstStage = results.Count(r => r.Halted && r.StageIndexAtHalt == 0);
        output.WriteLine($"halts within 5 % exposure at p1: {early}/{Campaigns} = {(double)early / Campaigns:P1}; " +
            $"within the 1 % stage: {inFirstStage}; median outcomes to halt: {median}; max exposure: {results.Max(r => r.ExposurePercentAtHalt):0.##} %");
        Assert.True(early >= 0.99 * Campaigns, $"only {early} of {Campaigns} campaigns at p1 halted within the second stage");
        Assert.All(results.Where(r => r.Halted), r => Assert.Equal("sequential", r.Verdict.Policy));
    }

    [Fact]
    public void Sequential_FailureConfinedToOneModel_HaltsAndBlamesThatModel()
    {
        ImmutableArray<FleetSegment> fleet =
        [
            new(new Cohort("MF-A", "R1", "EU", "C1", "1.0"), 0.4, 0.01, "E_DOWNLOAD"),
            new(new Cohort("MF-B", "R1", "EU", "C1", "1.0"), 0.2, 0.30, "E_BOOT_LOOP"),
            new(new Cohort("MF-C", "R1", "EU", "C1", "1.0"), 0.4, 0.01, "E_DOWNLOAD"),
        ];
        var settings = new RolloutSimulationSettings(Fleet, Stages, Sprt, fleet, Seed: 3_000);

        var results = RolloutSimulation.RunMany(settings, 50);

        Assert.All(results, r =>
        {
            Assert.True(r.Halted);
            Assert.Equal(0, r.StageIndexAtHalt);
            Assert.Equal(("model", "MF-B", "E_BOOT_LOOP"), (r.Blame!.Dimension, r.Blame.Value, r.Blame.TopErrorCode));
            Assert.Equal(r.FailuresAtHalt, r.Blame.TotalFailures);
        });
    }

    [Fact]
    public void Run_TwoSegments_ReportsInterleaveInProportionToExposure()
    {
        // Half the fleet always fails, half never: the first 2,000 reports are a random mix, about 1,000 of each.
        ImmutableArray<FleetSegment> fleet =
        [
            new(new Cohort("MF-A", "R1", "EU", "C1", "1.0"), 0.5, 0, "E_DOWNLOAD"),
            new(new Cohort("MF-B", "R1", "EU", "C1", "1.0"), 0.5, 1, "E_BOOT_LOOP"),
        ];
        var policy = new HaltPolicy(new ThresholdPolicy(MaxFailureRate: 0, MinCompleted: 2_000), null);
        var settings = new RolloutSimulationSettings(20_000, Stages, policy, fleet, Seed: 7_000) { BatchSize = 1 };

        var results = RolloutSimulation.RunMany(settings, 20);

        Assert.All(results, r =>
        {
            Assert.Equal(2_000, r.OutcomesAtHalt);
            Assert.InRange(r.FailuresAtHalt, 900, 1_100);
            Assert.Equal(("model", "MF-B", r.FailuresAtHalt, r.FailuresAtHalt), (r.Blame!.Dimension, r.Blame.Value, r.Blame.FailuresInCohort, r.Blame.CompletedInCohort));
        });
    }

    [Fact]
    public void Threshold_AnyRateAndBatchSize_NeverHaltsBeforeMinCompleted()
    {
        const int minCompleted = 120;
        var policy = new HaltPolicy(new ThresholdPolicy(MaxFailureRate: 0.05, MinCompleted: minCompleted), null);
        double[] rates = [0, 0.02, 0.06, 0.3, 1];
        int[] batchSizes = [1, 7, 50];

        var halts = new List<(double Rate, int BatchSize, RolloutSimulationResult Result)>();
        foreach (var rate in rates)
        {
            foreach (var batchSize in batchSizes)
            {
                var settings = new RolloutSimulationSettings(20_000, Stages, policy, RolloutSimulationSettings.UniformFleet(rate), Seed: 4_000)
                {
                    BatchSize = batchSize,
                };
                halts.AddRange(RolloutSimulation.RunMany(settings, 20).Select(r => (rate, batchSize, r)));
            }
        }

        Assert.All(halts.Where(h => h.Result.Halted), h => Assert.InRange(h.Result.OutcomesAtHalt, minCompleted, long.MaxValue));
        Assert.All(halts.Where(h => h.Rate == 0), h => Assert.False(h.Result.Halted));
        Assert.All(halts.Where(h => h.Rate >= 0.3), h => Assert.True(h.Result.Halted));

        // At 100 % failure the first check at or past n_min halts: at n_min exactly when every outcome is checked.
        Assert.All(halts.Where(h => h.Rate == 1), h => Assert.InRange(h.Result.OutcomesAtHalt, minCompleted, minCompleted + h.BatchSize - 1));
        Assert.All(halts.Where(h => h.Rate == 1 && h.BatchSize == 1), h => Assert.Equal(minCompleted, h.Result.OutcomesAtHalt));
    }

    [Fact]
    public void Run_SameSeed_SameResult()
    {
        var settings = new RolloutSimulationSettings(20_000, Stages, Sprt, RolloutSimulationSettings.UniformFleet(0.04), Seed: 5_000);

        var first = RolloutSimulation.Run(settings);
        var second = RolloutSimulation.Run(settings);

        Assert.Equal(first, second);
        Assert.True(first.Halted);
    }

    [Fact]
    public void Run_StagesBelowHundredWithoutHalt_ExposesExactlyTheBucketedDevices()
    {
        var settings = new RolloutSimulationSettings(10_000, [2, 50], HaltPolicy.None, RolloutSimulationSettings.UniformFleet(0.5), Seed: 6_000);
        var expected = Enumerable.Range(0, 10_000).Count(i => Bucketing.IsExposed(Bucketing.BucketOf(settings.Salt, $"d-{i}"), 50));

        var result = RolloutSimulation.Run(settings);

        Assert.False(result.Halted);
        Assert.Equal((expected, expected, 1), (result.OutcomesAtHalt, result.ExposedDevicesAtHalt, result.StageIndexAtHalt));
        Assert.Equal(100.0 * expected / 10_000, result.ExposurePercentAtHalt);
        Assert.InRange(result.FailuresAtHalt, 1, expected - 1);
        Assert.Null(result.Blame);
        Assert.Equal(new HaltVerdict(false, null, "no halt policy", null), result.Verdict);
    }
}
