using System.Collections.Immutable;
using System.Globalization;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Campaigns;

/// <summary>A share of a simulated fleet: its cohort, its true failure rate and the error code its failures carry.</summary>
public sealed record FleetSegment(Cohort Cohort, double Share, double FailureRate, string ErrorCode);

/// <summary>
/// One simulated staged campaign: <see cref="DeviceCount"/> devices "d-0" … split into <see cref="Fleet"/> segments
/// by share (contiguous id ranges), bucketed with <see cref="Salt"/>, exposed stage by stage at the cumulative
/// <see cref="StagePercents"/>, the halt policy checked after every <see cref="BatchSize"/> outcomes.
/// </summary>
public sealed record RolloutSimulationSettings(
    int DeviceCount,
    ImmutableArray<double> StagePercents,
    HaltPolicy Halt,
    ImmutableArray<FleetSegment> Fleet,
    int Seed)
{
    public const string DefaultErrorCode = "E_INSTALL_FAILED";

    /// <summary>Outcomes between two halt checks, as a campaign grain would see them in batched counts.</summary>
    public int BatchSize { get; init; } = 50;

    /// <summary>The campaign salt the buckets are computed with.</summary>
    public string Salt { get; init; } = "simulated-campaign";

    /// <summary>A fleet of one cohort that fails at <paramref name="failureRate"/>.</summary>
    public static ImmutableArray<FleetSegment> UniformFleet(double failureRate) =>
        [new FleetSegment(new Cohort("SIM-1", "R1", "EU", "CARRIER-1", "1.0"), 1, failureRate, DefaultErrorCode)];
}

/// <summary>
/// How a simulated campaign ended. Without a halt, the "at halt" figures are those at the end of the campaign,
/// <see cref="Blame"/> is null and <see cref="Verdict"/> is the last, non-halting, evaluation.
/// </summary>
public sealed record RolloutSimulationResult(
    bool Halted,
    long OutcomesAtHalt,
    long FailuresAtHalt,
    int StageIndexAtHalt,
    long ExposedDevicesAtHalt,
    double ExposurePercentAtHalt,
    FailureBlame? Blame,
    HaltVerdict Verdict);

/// <summary>
/// A pure, seeded simulation of halting during a staged rollout, to measure a halt policy's operating characteristics
/// (false-halt rate at p0, exposure before a halt at p1) without a cluster. Each stage's newly exposed devices report in
/// random order; counts are cumulative over the campaign; a stage starts when every device of the previous one has
/// reported (soak and success gates are out of scope). Outcomes are drawn a batch at a time — how many come from each
/// segment, then how many of those failed — so a run costs per batch, not per device, and allocates nothing per device.
/// </summary>
public static class RolloutSimulation
{
    public static RolloutSimulationResult Run(RolloutSimulationSettings settings) => new Layout(settings).Run(settings.Seed);

    /// <summary>
    /// <paramref name="campaigns"/> campaigns over the same fleet and buckets, seeded <see cref="RolloutSimulationSettings.Seed"/>,
    /// Seed + 1, …: the buckets are hashed once, only the outcomes differ.
    /// </summary>
    public static ImmutableArray<RolloutSimulationResult> RunMany(RolloutSimulationSettings settings, int campaigns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(campaigns);
        var layout = new Layout(settings);
        var results = ImmutableArray.CreateBuilder<RolloutSimulationResult>(campaigns);
        for (var i = 0; i < campaigns; i++)
        {
            results.Add(layout.Run(unchecked(settings.Seed + i)));
        }

        return results.MoveToImmutable();
    }

    /// <summary>Devices newly exposed per stage and segment: everything a run needs from the buckets.</summary>
    private sealed class Layout
    {
        private readonly RolloutSimulationSettings _settings;
        private readonly long[][] _newlyExposed;

        public Layout(RolloutSimulationSettings settings)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(settings.DeviceCount);
            ArgumentOutOfRangeException.ThrowIfLessThan(settings.BatchSize, 1);
            if (settings.Fleet.IsDefaultOrEmpty || settings.Fleet.Any(s => !(s.Share >= 0) || !(s.FailureRate is >= 0 and <= 1)))
            {
                throw new ArgumentException("The fleet needs at least one segment, shares ≥ 0 and failure rates in [0, 1].", nameof(settings));
            }

            if (settings.StagePercents.IsDefaultOrEmpty)
            {
                throw new ArgumentException("A campaign needs at least one stage.", nameof(settings));
            }

            _settings = settings;
            var segments = settings.Fleet.Length;
            var limits = settings.StagePercents.Select(Bucketing.ExposedBucketLimit).ToArray();
            _newlyExposed = [.. limits.Select(_ => new long[segments])];

            var segmentEnds = SegmentEnds(settings.Fleet, settings.DeviceCount);
            var segment = 0;
            for (var i = 0; i < settings.DeviceCount; i++)
            {
                while (i >= segmentEnds[segment])
                {
                    segment++;
                }

                var bucket = Bucketing.BucketOf(settings.Salt, "d-" + i.ToString(CultureInfo.InvariantCulture));

                // A device belongs to the first stage that exposes it; stages are cumulative.
                var stage = Array.FindIndex(limits, limit => bucket < limit);
                if (stage >= 0)
                {
                    _newlyExposed[stage][segment]++;
                }
            }
        }

        public RolloutSimulationResult Run(int seed)
        {
            var random = new Random(seed);
            var fleet = _settings.Fleet;
            var segments = fleet.Length;
            var completedBySegment = new long[segments];
            var failuresBySegment = new long[segments];
            var remaining = new long[segments];
            var taken = new long[segments];
            long completed = 0, failures = 0, exposed = 0;
            var lastStage = _newlyExposed.Length - 1;

            for (var stage = 0; stage < _newlyExposed.Length; stage++)
            {
                Array.Copy(_newlyExposed[stage], remaining, segments);
                var remainingInStage = remaining.Sum();
                exposed += remainingInStage;
                while (remainingInStage > 0)
                {
                    var batch = Math.Min(_settings.BatchSize, remainingInStage);
                    TakeBatch(random, remaining, remainingInStage, batch, taken);
                    remainingInStage -= batch;
                    for (var s = 0; s < segments; s++)
                    {
                        if (taken[s] == 0)
                        {
                            continue;
                        }

                        var failed = Binomial(random, taken[s], fleet[s].FailureRate);
                        remaining[s] -= taken[s];
                        completedBySegment[s] += taken[s];
                        failuresBySegment[s] += failed;
                        completed += taken[s];
                        failures += failed;
                    }

                    if (HaltEvaluation.ShouldHalt(_settings.Halt, completed, failures))
                    {
                        var tally = new CohortAttribution.Tally();
                        for (var s = 0; s < segments; s++)
                        {
                            tally.Add(fleet[s].Cohort, completedBySegment[s], failuresBySegment[s], fleet[s].ErrorCode);
                        }

                        return Result(true, completed, failures, stage, exposed, tally.Blame());
                    }
                }
            }

            return Result(false, completed, failures, lastStage, exposed, null);
        }

        private RolloutSimulationResult Result(bool halted, long completed, long failures, int stage, long exposed, FailureBlame? blame) =>
            new(halted, completed, failures, stage, exposed,
                _settings.DeviceCount == 0 ? 0 : 100.0 * exposed / _settings.DeviceCount,
                blame, HaltEvaluation.Evaluate(_settings.Halt, completed, failures));

        /// <summary>
        /// Which segments the next <paramref name="batch"/> reports come from, drawn without replacement from the
        /// stage's unreported devices (a multivariate hypergeometric draw, one report at a time).
        /// </summary>
        private static void TakeBatch(Random random, long[] remaining, long remainingTotal, long batch, long[] taken)
        {
            if (remaining.Length == 1)
            {
                taken[0] = batch;
                return;
            }

            Array.Clear(taken);
            for (var i = 0; i < batch; i++)
            {
                var pick = random.NextInt64(remainingTotal - i);
                var s = 0;
                while (pick >= remaining[s] - taken[s])
                {
                    pick -= remaining[s] - taken[s];
                    s++;
                }

                taken[s]++;
            }
        }

        /// <summary>
        /// A Binomial(n, p) draw by inversion of the CDF from k = 0: about n·p + 1 steps, one uniform. Falls back to
        /// n Bernoulli draws where q^n would underflow or the walk would be long.
        /// </summary>
        private static long Binomial(Random random, long n, double p)
        {
            if (p <= 0)
            {
                return 0;
            }

            if (p >= 1)
            {
                return n;
            }

            var q = 1 - p;
            var probability = Math.Pow(q, n);
            if (probability < 1e-200 || n * p > 64)
            {
                long count = 0;
                for (long i = 0; i < n; i++)
                {
                    count += random.NextDouble() < p ? 1 : 0;
                }

                return count;
            }

            var u = random.NextDouble();
            var cumulative = probability;
            long k = 0;
            while (u >= cumulative && k < n)
            {
                probability *= p / q * (n - k) / (k + 1);
                k++;
                cumulative += probability;
            }

            return k;
        }

        /// <summary>Exclusive end index of each segment's id range, by share of the whole; the last ends at the fleet's end.</summary>
        private static long[] SegmentEnds(ImmutableArray<FleetSegment> fleet, int deviceCount)
        {
            var totalShare = fleet.Sum(s => s.Share);
            var ends = new long[fleet.Length];
            var cumulative = 0.0;
            for (var s = 0; s < fleet.Length; s++)
            {
                cumulative += fleet[s].Share;
                ends[s] = s == fleet.Length - 1 || totalShare <= 0
                    ? deviceCount
                    : (long)Math.Round(deviceCount * cumulative / totalShare, MidpointRounding.AwayFromZero);
            }

            return ends;
        }
    }
}
