using System.Collections.Immutable;
using Xunit.Abstractions;
using ZteRollout.Shared.Campaigns;

namespace ZteRollout.Tests.Domain;

/// <summary>
/// The halting guarantees of docs/design.md ("What the halt policies guarantee") where the field departs from the
/// textbook model: retried failures, a build that goes bad later, failures that report sooner than successes. Each is
/// measured by seeded simulation of the engine the campaign grain runs (no cluster): 100,000 devices, stages
/// 1/5/25/100 %, a sequential test of p0 = 2 % against p1 = 4 % with α = β = 1 %, 1,000 campaigns per figure.
/// </summary>
public sealed class HaltingGuaranteeSimulationTests(ITestOutputHelper output)
{
    private const int Campaigns = 1000;
    private const int Fleet = 100_000;
    private const double P0 = 0.02;
    private const double P1 = 0.04;
    private static readonly ImmutableArray<double> Stages = [1, 5, 25, 100];
    private static readonly HaltPolicy Sprt = new(null, new SequentialPolicy(P0, P1, Alpha: 0.01, Beta: 0.01));

    /// <summary>Failures report four times sooner than successes; each stage is offered at once.</summary>
    private static readonly ArrivalModel FastFailures = new(FailureSpeedup: 4, OffersPerTimeUnit: null);

    /// <summary>
    /// Offers at a plan's rate limit, about 200 in flight; failures and successes equally fast. A quarter of the mean
    /// report time per step (about 50 offers and 50 reports, each step's reports in random order) keeps 1,000
    /// campaigns of 100,000 devices within seconds.
    /// </summary>
    private static readonly ArrivalModel RateLimited = new(FailureSpeedup: 1, OffersPerTimeUnit: 200) { TimeStep = 0.25 };

    [Fact]
    public void Retries_StickyFaultsAtP0WithThreeAttempts_HaltAtMostOnePointFivePercent()
    {
        var settings = Campaign(P0, seed: 11_000) with { MaxAttempts = 3, StickyFaults = true };

        var halted = RolloutSimulation.RunMany(settings, Campaigns).Count(r => r.Halted);

        output.WriteLine($"sticky faults at q = p0, 3 attempts: false halts {halted}/{Campaigns} = {(double)halted / Campaigns:P1} (bound α = 1 %)");
        Assert.True(halted <= 15, $"{halted} of {Campaigns} campaigns halted at q = p0");
    }

    [Fact]
    public void Retries_StickyFaultsAtP1WithThreeAttempts_HaltBeforeFivePercentExposure()
    {
        var settings = Campaign(P1, seed: 12_000) with { MaxAttempts = 3, StickyFaults = true };

        var results = RolloutSimulation.RunMany(settings, Campaigns);

        var early = results.Count(r => r.Halted && r.StageIndexAtHalt <= 1);
        output.WriteLine($"sticky faults at q = p1, 3 attempts: halted within 5 % exposure {early}/{Campaigns} = {(double)early / Campaigns:P1}; " +
            $"median devices decided at halt {Median(results.Where(r => r.Halted).Select(r => r.OutcomesAtHalt))}");
        Assert.True(early >= 990, $"only {early} of {Campaigns} campaigns at q = p1 halted within 5 % exposure");
    }

    [Fact]
    public void ChangeDetection_BuildGoesBadAfter25000Outcomes_IsDetectedWithinAMedianOf2000Outcomes()
    {
        const long changeAt = 25_000;
        var settings = Campaign(P0, seed: 13_000) with { Arrival = RateLimited, Change = new FailureRateChange(changeAt, P1) };

        var results = RolloutSimulation.RunMany(settings, Campaigns);

        var beforeChange = results.Count(r => r.Halted && r.OutcomesAtHalt < changeAt);
        var delays = results.Select(r => r.Halted && r.OutcomesAtHalt >= changeAt ? r.OutcomesAtHalt - changeAt : long.MaxValue).ToArray();
        var median = Median(delays);
        var missed = delays.Count(d => d == long.MaxValue) - beforeChange;
        output.WriteLine($"p0 → p1 after {changeAt:N0} outcomes (offers rate-limited, ~200 in flight): median outcomes to detection {(median == long.MaxValue ? "never" : median.ToString("N0"))}; " +
            $"halted before the change {beforeChange}, never halted {missed}, of {Campaigns}");
        Assert.True(median <= 2_000, $"median detection delay {median} outcomes");
    }

    [Fact]
    public void ChangeDetection_ConstantP0Over100000Outcomes_HaltsAtMostOnePointFivePercent()
    {
        var settings = Campaign(P0, seed: 14_000) with { Arrival = RateLimited };

        var results = RolloutSimulation.RunMany(settings, Campaigns);

        var halted = results.Count(r => r.Halted);
        output.WriteLine($"constant p0 over {Fleet:N0} outcomes, rate-limited offers: false halts {halted}/{Campaigns} = {(double)halted / Campaigns:P1} (bound α = 1 %)");
        Assert.True(halted <= 15, $"{halted} of {Campaigns} campaigns halted at p0");
        Assert.All(results.Where(r => !r.Halted), r => Assert.Equal(Fleet, r.OutcomesAtHalt));
    }

    [Fact]
    public void ArrivalOrder_FailuresFourTimesFasterAtP0_HaltAtMostOnePointFivePercent()
    {
        var settings = Campaign(P0, seed: 15_000) with { Arrival = FastFailures };

        var halted = RolloutSimulation.RunMany(settings, Campaigns).Count(r => r.Halted);

        output.WriteLine($"failures 4× faster, stages offered at once, p0: false halts {halted}/{Campaigns} = {(double)halted / Campaigns:P1} (bound α = 1 %)");
        Assert.True(halted <= 15, $"{halted} of {Campaigns} campaigns halted at p0");
    }

    [Fact]
    public void ArrivalOrder_FailuresFourTimesFasterAtP1_HaltBeforeFivePercentExposure()
    {
        var settings = Campaign(P1, seed: 16_000) with { Arrival = FastFailures };

        var results = RolloutSimulation.RunMany(settings, Campaigns);

        var early = results.Count(r => r.Halted && r.StageIndexAtHalt <= 1);
        output.WriteLine($"failures 4× faster, stages offered at once, p1: halted within 5 % exposure {early}/{Campaigns} = {(double)early / Campaigns:P1}; " +
            $"within the 1 % stage {results.Count(r => r.Halted && r.StageIndexAtHalt == 0)}");
        Assert.True(early >= 990, $"only {early} of {Campaigns} campaigns at p1 halted within 5 % exposure");
    }

    [Fact]
    public void ArrivalOrder_ThresholdWithFailuresFourTimesFaster_HaltsOnlyARealExcess()
    {
        var threshold = new HaltPolicy(new ThresholdPolicy(MaxFailureRate: 0.04, MinCompleted: 200), null);
        var atP0 = Campaign(P0, seed: 17_000) with { Halt = threshold, Arrival = FastFailures };
        var atEightPercent = Campaign(0.08, seed: 18_000) with { Halt = threshold, Arrival = FastFailures };

        var falseHalts = RolloutSimulation.RunMany(atP0, Campaigns).Count(r => r.Halted);
        var caught = RolloutSimulation.RunMany(atEightPercent, Campaigns).Count(r => r.Halted && r.StageIndexAtHalt == 0);

        output.WriteLine($"threshold 4 % after 200, failures 4× faster: halts at 2 % {falseHalts}/{Campaigns}; at 8 % halted in the first stage {caught}/{Campaigns}");
        Assert.True(falseHalts <= 15, $"{falseHalts} of {Campaigns} campaigns at 2 % halted by a 4 % threshold");
        Assert.True(caught >= 990, $"only {caught} of {Campaigns} campaigns at 8 % halted in the first stage");
    }

    private static RolloutSimulationSettings Campaign(double failureRate, int seed) =>
        new(Fleet, Stages, Sprt, RolloutSimulationSettings.UniformFleet(failureRate), seed);

    private static long Median(IEnumerable<long> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
    }
}
