using Xunit.Abstractions;
using ZteRollout.Shared.Campaigns;

namespace ZteRollout.Tests.Domain;

/// <summary>
/// Health-gated success against the halt engine the campaign grain runs (docs/design.md, "Health-gated success"),
/// by seeded simulation: half of a build's failures are install errors that report fast, half are rollbacks inside
/// the health window, after the device reported SUCCEEDED. Three ways to count the same event stream are judged
/// side by side, 1,000 campaigns per figure:
/// <list type="bullet">
/// <item>health-gated (ours): a success pending confirmation is undecided (a success for the SPRT, as a device in flight is);</item>
/// <item>no health window: a success counts when reported, and a rollback after it is never seen;</item>
/// <item>confirmed only: pending and in-flight devices left out of the test altogether (the statistic over decided devices).</item>
/// </list>
/// </summary>
public sealed class HealthWindowSimulationTests(ITestOutputHelper output)
{
    private const int Campaigns = 1000;
    private const int Devices = 5000;
    private const int BatchSize = 50;

    /// <summary>Mean time from offer to a success report is 1; install errors report 4× sooner.</summary>
    private const double MeanFailureReport = 0.25;

    /// <summary>The health window, in mean success-report times; a rollback comes uniformly inside it.</summary>
    private const double Window = 2;

    /// <summary>A healthy device's confirming check-in comes within this long after its window ends.</summary>
    private const double CheckInInterval = 0.5;

    private static readonly HaltPolicy Sprt = new(null, new SequentialPolicy(P0: 0.02, P1: 0.04, Alpha: 0.01, Beta: 0.01));

    [Fact]
    public void AtP0_HealthGatedCounting_KeepsTheFalseHaltBound_WhileConfirmedOnlyCountingDoesNot()
    {
        var results = Simulate(failureRate: 0.02, seed: 91_000);

        output.WriteLine($"p0, half the failures rollbacks inside the window: false halts — health-gated {results.Gated}/{Campaigns}, " +
            $"no window {results.Ungated}/{Campaigns}, confirmed only {results.ConfirmedOnly}/{Campaigns} (bound α = 1 %)");
        Assert.True(results.Gated <= 15, $"{results.Gated} of {Campaigns} health-gated campaigns halted at p0");

        // Judging only confirmed outcomes lets fast install errors outrun successes still in their window.
        Assert.True(results.ConfirmedOnly >= 900, $"only {results.ConfirmedOnly} of {Campaigns} confirmed-only campaigns halted at p0");
    }

    [Fact]
    public void AtP1_HealthGatedCounting_DetectsTheRollbacks_ThatCountingAtTheReportMisses()
    {
        var results = Simulate(failureRate: 0.04, seed: 92_000);

        output.WriteLine($"p1, half the failures rollbacks inside the window: halted — health-gated {results.Gated}/{Campaigns} " +
            $"(median devices decided at halt {results.MedianDecidedAtGatedHalt}), no window {results.Ungated}/{Campaigns}");
        Assert.True(results.Gated >= 990, $"only {results.Gated} of {Campaigns} health-gated campaigns halted at p1");

        // Without the window only the install errors count: 2 % of devices, p0's rate, so it halts at most about α of the time.
        Assert.True(results.Ungated <= 15, $"{results.Ungated} of {Campaigns} campaigns halted without a window seeing only install errors");
    }

    private sealed record Results(int Gated, int Ungated, int ConfirmedOnly, long MedianDecidedAtGatedHalt);

    private enum Event
    {
        InstallFailed,
        SuccessReported,
        RolledBack,
        Confirmed,
    }

    /// <summary>Campaigns of <see cref="Devices"/> devices all offered at once; half of <paramref name="failureRate"/> fails installing, half rolls back after success.</summary>
    private static Results Simulate(double failureRate, int seed)
    {
        var installFailure = failureRate / 2;
        var rollbackAfterSuccess = (failureRate / 2) / (1 - installFailure);
        int gated = 0, ungated = 0, confirmedOnly = 0;
        var decidedAtHalt = new List<long>();
        var events = new List<(double At, Event What)>(2 * Devices);
        for (var campaign = 0; campaign < Campaigns; campaign++)
        {
            var random = new Random(seed + campaign);
            events.Clear();
            for (var d = 0; d < Devices; d++)
            {
                if (random.NextDouble() < installFailure)
                {
                    events.Add((Exponential(random, MeanFailureReport), Event.InstallFailed));
                    continue;
                }

                var succeededAt = Exponential(random, 1);
                events.Add((succeededAt, Event.SuccessReported));
                events.Add(random.NextDouble() < rollbackAfterSuccess
                    ? (succeededAt + (random.NextDouble() * Window), Event.RolledBack)
                    : (succeededAt + Window + (random.NextDouble() * CheckInInterval), Event.Confirmed));
            }

            events.Sort((a, b) => a.At.CompareTo(b.At));
            var run = Judge(events);
            gated += run.GatedHaltedAt is null ? 0 : 1;
            ungated += run.UngatedHalted ? 1 : 0;
            confirmedOnly += run.ConfirmedOnlyHalted ? 1 : 0;
            if (run.GatedHaltedAt is { } decided)
            {
                decidedAtHalt.Add(decided);
            }
        }

        decidedAtHalt.Sort();
        return new Results(gated, ungated, confirmedOnly, decidedAtHalt.Count == 0 ? 0 : decidedAtHalt[decidedAtHalt.Count / 2]);
    }

    /// <summary>Feeds one campaign's events, in time order, to the engine a batch at a time under each way of counting.</summary>
    private static (long? GatedHaltedAt, bool UngatedHalted, bool ConfirmedOnlyHalted) Judge(List<(double At, Event What)> events)
    {
        long installFailed = 0, successReported = 0, rolledBack = 0, confirmed = 0;
        long? gatedHaltedAt = null;
        bool ungatedHalted = false, confirmedOnlyHalted = false;
        for (var i = 0; i < events.Count; i++)
        {
            switch (events[i].What)
            {
                case Event.InstallFailed: installFailed++; break;
                case Event.SuccessReported: successReported++; break;
                case Event.RolledBack: rolledBack++; break;
                case Event.Confirmed: confirmed++; break;
            }

            if ((i + 1) % BatchSize != 0 && i != events.Count - 1)
            {
                continue;
            }

            var failures = installFailed + rolledBack;
            StageOutcomes[] gatedStage = [new(Devices, confirmed + failures, failures)];
            if (gatedHaltedAt is null && HaltEvaluation.ShouldHalt(Sprt, gatedStage))
            {
                gatedHaltedAt = confirmed + failures;
            }

            StageOutcomes[] ungatedStage = [new(Devices, successReported + installFailed, installFailed)];
            ungatedHalted |= HaltEvaluation.ShouldHalt(Sprt, ungatedStage);

            StageOutcomes[] confirmedOnlyStage = [new(confirmed + failures, confirmed + failures, failures)];
            confirmedOnlyHalted |= confirmed + failures > 0 && HaltEvaluation.ShouldHalt(Sprt, confirmedOnlyStage);
        }

        return (gatedHaltedAt, ungatedHalted, confirmedOnlyHalted);
    }

    private static double Exponential(Random random, double mean) => -mean * Math.Log(1 - random.NextDouble());
}
