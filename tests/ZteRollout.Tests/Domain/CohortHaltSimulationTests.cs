using System.Collections.Immutable;
using Xunit.Abstractions;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Tests.Domain;

/// <summary>
/// Cohort-scoped halts (issue 9, point 5), engine and simulation only: 100,000 devices in four hardware revisions,
/// stages 1/5/25/100 %, the sequential test of p0 = 2 % against p1 = 4 % (α = β = 1 %), halts narrowed to a cohort
/// that holds ≥ 80 % of the failures.
/// </summary>
public sealed class CohortHaltSimulationTests(ITestOutputHelper output)
{
    private const int Fleet = 100_000;
    private static readonly ImmutableArray<double> Stages = [1, 5, 25, 100];
    private static readonly HaltPolicy Sprt = new(null, new SequentialPolicy(P0: 0.02, P1: 0.04, Alpha: 0.01, Beta: 0.01));

    private static ImmutableArray<FleetSegment> Revisions(double r3FailureRate) =>
        [.. new[] { "R1", "R2", "R3", "R4" }.Select(revision => new FleetSegment(
            new Cohort("MF286D", revision, "EU", "C1", "1.0"), 0.25, revision == "R3" ? r3FailureRate : 0.02, "E_BOOT_LOOP"))];

    [Fact]
    public void CohortScope_FailureConfinedToOneRevision_HaltsThatRevisionOnly_AndTheOthersComplete()
    {
        const int campaigns = 200;
        var settings = new RolloutSimulationSettings(Fleet, Stages, Sprt, Revisions(r3FailureRate: 0.3), Seed: 21_000) { CohortScopedHalts = true };

        var results = RolloutSimulation.RunMany(settings, campaigns);

        var narrowed = results.Count(r => !r.Halted && r.CohortHalted == "hardware_revision=R3" && r.CohortHalts == 1);
        output.WriteLine($"R3 at 30 %, others at 2 %: R3 alone halted and the rest completed in {narrowed}/{campaigns}; " +
            $"median devices decided {results.Select(r => r.OutcomesAtHalt).Order().ElementAt(campaigns / 2)} of {Fleet}");
        Assert.Equal(campaigns, narrowed);

        // Every device of the other revisions got an offer: R3's quarter is all that is missing from the exposure.
        Assert.All(results, r => Assert.InRange(r.ExposedDevicesAtHalt, 0.75 * Fleet, 0.76 * Fleet));
    }

    [Fact]
    public void CohortScope_NoRealDifferenceBetweenRevisions_HaltsAtMostOnePointFivePercent()
    {
        const int campaigns = 1000;
        var settings = new RolloutSimulationSettings(Fleet, Stages, Sprt, Revisions(r3FailureRate: 0.02), Seed: 22_000) { CohortScopedHalts = true };

        var results = RolloutSimulation.RunMany(settings, campaigns);

        var cohortHalts = results.Count(r => r.CohortHalts > 0);
        var halts = results.Count(r => r.Halted);
        output.WriteLine($"all revisions at p0: cohort halts in {cohortHalts}/{campaigns}, campaign halts {halts}/{campaigns} (bound α = 1 %)");
        Assert.True(cohortHalts + halts <= 15, $"{cohortHalts} cohort and {halts} campaign halts of {campaigns}");
    }
}
