using Xunit.Abstractions;
using ZteRollout.Shared.Campaigns;

namespace ZteRollout.Tests.Domain;

/// <summary>
/// Stage gates under an arrival-time model (issue 9, point 3, "the same applies to stage gates"): a stage of 2,000
/// devices offered at once, successes reporting 4× faster than failures (a success needs no reboot here; say an
/// install error only shows after a long verification), the gate (≥ 100 decided, ≥ 98 % success) judged after every
/// report. Seeded, 1,000 stages per figure. The per-device gate counts a device in flight as not succeeded; the old
/// one judged the decided devices only.
/// </summary>
public sealed class GateArrivalSimulationTests(ITestOutputHelper output)
{
    private const int Devices = 2_000;
    private const int Stages = 1_000;
    private static readonly StagePlan Gate = new(100, TimeSpan.Zero, GateMinCompleted: 100, GateMinSuccessRate: 0.98);
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch;

    /// <summary>How many reports each stage took until its gate opened (null: never), judged by the per-device rule and by the old one.</summary>
    private static (int? PerDevice, int? DecidedOnly)[] Simulate(double failureRate, int seed)
    {
        var random = new Random(seed);
        var results = new (int?, int?)[Stages];
        var reports = new (double At, bool Failed)[Devices];
        for (var stage = 0; stage < Stages; stage++)
        {
            for (var d = 0; d < Devices; d++)
            {
                var failed = random.NextDouble() < failureRate;

                // Exponential report times: mean 1 for a success, 4 for a failure.
                reports[d] = (-Math.Log(1 - random.NextDouble()) * (failed ? 4 : 1), failed);
            }

            Array.Sort(reports, (a, b) => a.At.CompareTo(b.At));
            int? perDevice = null, decidedOnly = null;
            long failures = 0;
            for (var decided = 1; decided <= Devices && (perDevice is null || decidedOnly is null); decided++)
            {
                failures += reports[decided - 1].Failed ? 1 : 0;
                if (perDevice is null && StageGates.Evaluate(Gate, Start, Start, new StageOutcomes(Devices, decided, failures)).Met)
                {
                    perDevice = decided;
                }

                if (decidedOnly is null && StageGates.Evaluate(Gate, Start, Start, decided, decided - failures).Met)
                {
                    decidedOnly = decided;
                }
            }

            results[stage] = (perDevice, decidedOnly);
        }

        return results;
    }

    [Fact]
    public void Gate_BadStageAtFourPercentWithSuccessesFourTimesFaster_NeverOpens_WhereTheOldRuleAlwaysDid()
    {
        var results = Simulate(failureRate: 0.04, seed: 31_000);

        var opened = results.Count(r => r.PerDevice is not null);
        var openedBefore = results.Count(r => r.DecidedOnly is not null);
        output.WriteLine($"96 % success, gate 98 %: opened in {opened}/{Stages} (per device) vs {openedBefore}/{Stages} (decided only, the old rule)");
        Assert.Equal(0, opened);
        Assert.True(openedBefore >= 990, $"the old rule opened {openedBefore} of {Stages}");
    }

    [Fact]
    public void Gate_GoodStageAtOnePercentWithSuccessesFourTimesFaster_OpensOnceTheLowerBoundReachesTheGate()
    {
        var results = Simulate(failureRate: 0.01, seed: 32_000);

        var opened = results.Where(r => r.PerDevice is not null).Select(r => r.PerDevice!.Value).Order().ToArray();
        output.WriteLine($"99 % success, gate 98 %: opened in {opened.Length}/{Stages}; median reports until it opened {opened[opened.Length / 2]} of {Devices}");
        Assert.True(opened.Length >= 999, $"opened in {opened.Length} of {Stages}");
        Assert.All(opened, n => Assert.InRange(n, 0.98 * Devices, Devices));
    }
}
