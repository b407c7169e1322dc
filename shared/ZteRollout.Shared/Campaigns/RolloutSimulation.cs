using System.Collections.Immutable;
using System.Globalization;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Campaigns;

/// <summary>A share of a simulated fleet: its cohort, its true failure rate and the error code its failures carry.</summary>
public sealed record FleetSegment(Cohort Cohort, double Share, double FailureRate, string ErrorCode);

/// <summary>
/// When simulated reports arrive. Time is measured in mean times from an attempt's start to its success report:
/// each attempt reports after an exponential delay, failures <see cref="FailureSpeedup"/> times sooner on average than
/// successes (an install error arrives in seconds, a success only after reboot and health). Offers are made all at
/// once when a stage starts, or at <see cref="OffersPerTimeUnit"/> (a plan's rate limit). Equal speeds with all offers
/// at once is the textbook model: reports in uniformly random order.
/// </summary>
public sealed record ArrivalModel(double FailureSpeedup, double? OffersPerTimeUnit)
{
    public static ArrivalModel RandomOrder { get; } = new(1, null);

    /// <summary>The simulation's time step; reports within one step come in random order.</summary>
    public double TimeStep { get; init; } = 0.05;
}

/// <summary>A build that goes bad later: attempts started once <see cref="AfterOutcomes"/> devices have a final result fail at <see cref="FailureRate"/>.</summary>
public sealed record FailureRateChange(long AfterOutcomes, double FailureRate);

/// <summary>
/// One simulated staged campaign: <see cref="DeviceCount"/> devices "d-0" … split into <see cref="Fleet"/> segments
/// by share (contiguous id ranges), bucketed with <see cref="Salt"/>, exposed stage by stage at the cumulative
/// <see cref="StagePercents"/>, the halt policy checked after every <see cref="BatchSize"/> reports.
/// </summary>
public sealed record RolloutSimulationSettings(
    int DeviceCount,
    ImmutableArray<double> StagePercents,
    HaltPolicy Halt,
    ImmutableArray<FleetSegment> Fleet,
    int Seed)
{
    public const string DefaultErrorCode = "E_INSTALL_FAILED";

    /// <summary>Reports between two halt checks, as a campaign grain would see them in batched counts.</summary>
    public int BatchSize { get; init; } = 50;

    /// <summary>The campaign salt the buckets are computed with.</summary>
    public string Salt { get; init; } = "simulated-campaign";

    /// <summary>Attempts per device (the plan's retry budget, first attempt included); a failed attempt is retried at once.</summary>
    public int MaxAttempts { get; init; } = 1;

    /// <summary>
    /// Whether a fault sticks to its device (every attempt of a device whose first attempt failed fails too), or each
    /// attempt fails independently at the segment's rate.
    /// </summary>
    public bool StickyFaults { get; init; } = true;

    public ArrivalModel Arrival { get; init; } = ArrivalModel.RandomOrder;

    public FailureRateChange? Change { get; init; }

    /// <summary>
    /// A halt whose failures concentrate in one cohort value stops only that value's segments (no new offers there;
    /// devices in flight finish and count), and the rest goes on in a new window (<see cref="CohortHalting"/>).
    /// </summary>
    public bool CohortScopedHalts { get; init; }

    /// <summary>A fleet of one cohort that fails at <paramref name="failureRate"/>.</summary>
    public static ImmutableArray<FleetSegment> UniformFleet(double failureRate) =>
        [new FleetSegment(new Cohort("SIM-1", "R1", "EU", "CARRIER-1", "1.0"), 1, failureRate, DefaultErrorCode)];
}

/// <summary>
/// How a simulated campaign ended. Outcomes are devices with a final result (succeeded, or failed on their last
/// attempt), failures the final failures among them. Without a halt, the "at halt" figures are those at the end of the
/// campaign, <see cref="Blame"/> is null and <see cref="Verdict"/> is the last, non-halting, evaluation.
/// </summary>
public sealed record RolloutSimulationResult(
    bool Halted,
    long OutcomesAtHalt,
    long FailuresAtHalt,
    int StageIndexAtHalt,
    long ExposedDevicesAtHalt,
    double ExposurePercentAtHalt,
    FailureBlame? Blame,
    HaltVerdict Verdict)
{
    /// <summary>The first cohort halted on its own, as "dimension=value"; null when none was.</summary>
    public string? CohortHalted { get; init; }

    /// <summary>How many cohort-scoped halts the campaign had.</summary>
    public int CohortHalts { get; init; }
}

/// <summary>
/// A pure, seeded simulation of halting during a staged rollout, to measure a halt policy's operating characteristics
/// (false-halt rate at p0, exposure before a halt at p1) without a cluster. Time advances in steps of
/// <see cref="ArrivalModel.TimeStep"/>: devices are offered (all of a stage at once, or at a rate), each attempt
/// reports after an exponential delay whose mean depends on whether it fails, a failed attempt with budget left starts
/// the next at once, and the reports of a step reach the halt policy in random order, a batch at a time, as the
/// campaign grain sees them: per stage, each device once with its final result (<see cref="StageOutcomes"/>). A stage
/// starts when every device of the previous one has a final result (soak and success gates are out of scope).
/// Devices are counted, not kept: a step draws how many of each kind (segment, attempt, fate) report, so a run costs
/// per report and allocates nothing per device.
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
        private readonly double[] _logFactorials;

        public Layout(RolloutSimulationSettings settings)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(settings.DeviceCount);
            ArgumentOutOfRangeException.ThrowIfLessThan(settings.BatchSize, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxAttempts, 1);
            if (settings.Fleet.IsDefaultOrEmpty || settings.Fleet.Any(s => !(s.Share >= 0) || !(s.FailureRate is >= 0 and <= 1)))
            {
                throw new ArgumentException("The fleet needs at least one segment, shares ≥ 0 and failure rates in [0, 1].", nameof(settings));
            }

            if (settings.StagePercents.IsDefaultOrEmpty)
            {
                throw new ArgumentException("A campaign needs at least one stage.", nameof(settings));
            }

            if (!(settings.Arrival.FailureSpeedup > 0) || !(settings.Arrival.TimeStep > 0) || settings.Arrival.OffersPerTimeUnit is <= 0
                || settings.Change is { FailureRate: < 0 or > 1 })
            {
                throw new ArgumentException("Arrival speeds, time step and offer rate must be positive, a changed failure rate in [0, 1].", nameof(settings));
            }

            _settings = settings;
            _logFactorials = LogFactorials(settings.DeviceCount);
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

        public RolloutSimulationResult Run(int seed) => new Campaign(_settings, _newlyExposed, new Random(seed), _logFactorials).Run();
    }

    /// <summary>One simulated campaign's moving counts. Devices in flight are kept per (segment, attempt, fate) "kind".</summary>
    private sealed class Campaign
    {
        private readonly RolloutSimulationSettings _settings;
        private readonly long[][] _newlyExposed;
        private readonly Random _random;
        private readonly ImmutableArray<FleetSegment> _fleet;
        private readonly int _attempts;
        private readonly double[] _failureRate;
        private readonly long[] _inFlight, _reporting, _retrying, _takenKinds;
        private readonly long[] _remaining, _taken;
        private readonly long[] _decidedBySegment, _failuresBySegment;
        private readonly StageOutcomes[] _stages, _judged;
        private readonly StageOutcomes[][] _segmentStages;
        private readonly StageBaseline?[][] _baselines;
        private readonly bool[] _haltedSegments;
        private string? _cohortHalted;
        private int _cohortHalts;
        private readonly double _successHazard, _failureHazard;
        private long _decided, _failures, _exposed, _inFlightTotal, _retryingTotal, _sinceCheck;
        private bool _changed;

        private readonly double[] _logFactorials;

        public Campaign(RolloutSimulationSettings settings, long[][] newlyExposed, Random random, double[] logFactorials)
        {
            _logFactorials = logFactorials;
            _settings = settings;
            _newlyExposed = newlyExposed;
            _random = random;
            _fleet = settings.Fleet;
            _attempts = settings.MaxAttempts;
            var segments = _fleet.Length;
            _failureRate = [.. _fleet.Select(s => s.FailureRate)];
            var kinds = segments * _attempts * 2;
            (_inFlight, _reporting, _retrying, _takenKinds) = (new long[kinds], new long[kinds], new long[kinds], new long[kinds]);
            (_remaining, _taken) = (new long[segments], new long[segments]);
            (_decidedBySegment, _failuresBySegment) = (new long[segments], new long[segments]);
            _stages = new StageOutcomes[newlyExposed.Length];
            _judged = new StageOutcomes[newlyExposed.Length];
            _segmentStages = [.. _fleet.Select(_ => new StageOutcomes[newlyExposed.Length])];
            _baselines = [.. _fleet.Select(_ => new StageBaseline?[newlyExposed.Length])];
            _haltedSegments = new bool[segments];
            var step = settings.Arrival.TimeStep;
            _successHazard = 1 - Math.Exp(-step);
            _failureHazard = 1 - Math.Exp(-step * settings.Arrival.FailureSpeedup);
        }

        public RolloutSimulationResult Run()
        {
            var offerRate = _settings.Arrival.OffersPerTimeUnit;
            for (var stage = 0; stage < _newlyExposed.Length; stage++)
            {
                Array.Copy(_newlyExposed[stage], _remaining, _remaining.Length);
                for (var s = 0; s < _remaining.Length; s++)
                {
                    // A halted cohort gets no new offers in later stages either.
                    _remaining[s] = _haltedSegments[s] ? 0 : _remaining[s];
                }

                var unoffered = _remaining.Sum();
                var offerCredit = 0.0;
                while (unoffered > 0 || _inFlightTotal > 0)
                {
                    // Offers: the whole stage at once, or as many as the rate allows this step.
                    long offers;
                    if (offerRate is { } rate)
                    {
                        offerCredit += rate * _settings.Arrival.TimeStep;
                        offers = Math.Min(unoffered, (long)offerCredit);
                        offerCredit -= offers;
                    }
                    else
                    {
                        offers = unoffered;
                    }

                    if (offers > 0)
                    {
                        Offer(stage, unoffered, offers);
                        unoffered -= offers;
                    }

                    // Reports: how many of each kind in flight report during this step.
                    long reports = 0;
                    for (var kind = 0; kind < _inFlight.Length; kind++)
                    {
                        var n = _inFlight[kind] == 0 ? 0 : Binomial(_random, _inFlight[kind], IsFailure(kind) ? _failureHazard : _successHazard);
                        _reporting[kind] = n;
                        _inFlight[kind] -= n;
                        reports += n;
                    }

                    _inFlightTotal -= reports;
                    while (reports > 0)
                    {
                        var batch = Math.Min(_settings.BatchSize - _sinceCheck, reports);
                        TakeBatch(_random, _logFactorials, _reporting, reports, batch, _takenKinds);
                        reports -= batch;
                        Count(stage);
                        _sinceCheck += batch;

                        // The last report of a stage is checked however full its batch, as the stage hands over.
                        var stageDone = reports == 0 && unoffered == 0 && _inFlightTotal == 0 && _retryingTotal == 0;
                        if (_sinceCheck == _settings.BatchSize || stageDone)
                        {
                            _sinceCheck = 0;
                            if (ShouldHalt())
                            {
                                if (!_settings.CohortScopedHalts || HaltCohort() is not { } dropped)
                                {
                                    return Result(true, stage);
                                }

                                unoffered -= dropped;
                            }
                        }
                    }

                    // Retries start their next attempt after the step's reports.
                    for (var kind = 0; kind < _retrying.Length; kind++)
                    {
                        _inFlight[kind] += _retrying[kind];
                        _inFlightTotal += _retrying[kind];
                        _retrying[kind] = 0;
                    }

                    _retryingTotal = 0;
                }
            }

            return Result(false, _newlyExposed.Length - 1);
        }

        private bool ShouldHalt()
        {
            if (!_settings.CohortScopedHalts)
            {
                return HaltEvaluation.ShouldHalt(_settings.Halt, _stages);
            }

            // The window: segments not halted, since the last cohort halt.
            Array.Clear(_judged);
            for (var s = 0; s < _fleet.Length; s++)
            {
                for (var k = 0; k < _judged.Length && !_haltedSegments[s]; k++)
                {
                    _judged[k] = _judged[k].Add(_segmentStages[s][k].Since(_baselines[s][k]));
                }
            }

            return HaltEvaluation.ShouldHalt(_settings.Halt, _judged);
        }

        /// <summary>
        /// Narrows a halt to the cohort its window's failures concentrate in: stops that cohort's segments and opens a
        /// new window. Returns the devices never offered that it dropped, or null when the whole campaign halts.
        /// </summary>
        private long? HaltCohort()
        {
            var tally = new CohortAttribution.Tally();
            long decided = 0;
            for (var s = 0; s < _fleet.Length; s++)
            {
                if (_haltedSegments[s])
                {
                    continue;
                }

                var window = StageOutcomes.None;
                for (var k = 0; k < _judged.Length; k++)
                {
                    window = window.Add(_segmentStages[s][k].Since(_baselines[s][k]));
                }

                tally.Add(_fleet[s].Cohort, window.Decided, window.Failures, _fleet[s].ErrorCode);
                decided += window.Decided;
            }

            var blame = tally.Blame();
            if (blame is not { Dimension: { } blamedDimension, Value: { } blamedValue })
            {
                return null;
            }

            var stopping = Enumerable.Range(0, _fleet.Length)
                .Where(s => !_haltedSegments[s] && CohortHalting.ValueOf(_fleet[s].Cohort, blamedDimension) == blamedValue).ToArray();
            var rest = new StageOutcomes[_judged.Length];
            for (var s = 0; s < _fleet.Length; s++)
            {
                for (var k = 0; k < rest.Length && !_haltedSegments[s] && !stopping.Contains(s); k++)
                {
                    rest[k] = rest[k].Add(_segmentStages[s][k].Since(_baselines[s][k]));
                }
            }

            if (CohortHalting.Narrow(blame, decided, HaltEvaluation.ShouldHalt(_settings.Halt, rest)) is not var (dimension, value))
            {
                return null;
            }

            if (stopping.Length == _haltedSegments.Count(h => !h))
            {
                return null;
            }

            long dropped = 0;
            foreach (var s in stopping)
            {
                _haltedSegments[s] = true;
                dropped += _remaining[s];
                _remaining[s] = 0;
            }

            for (var s = 0; s < _fleet.Length; s++)
            {
                for (var k = 0; k < _judged.Length; k++)
                {
                    _baselines[s][k] = _segmentStages[s][k].Baseline();
                }
            }

            _cohortHalted ??= $"{dimension}={value}";
            _cohortHalts++;
            return dropped;
        }

        private static bool IsFailure(int kind) => (kind & 1) == 1;

        private int Kind(int segment, int attempt, bool fails) => (((segment * _attempts) + attempt) * 2) + (fails ? 1 : 0);

        private void Offer(int stage, long unoffered, long offers)
        {
            TakeBatch(_random, _logFactorials, _remaining, unoffered, offers, _taken);
            for (var s = 0; s < _taken.Length; s++)
            {
                if (_taken[s] == 0)
                {
                    continue;
                }

                _remaining[s] -= _taken[s];
                _segmentStages[s][stage] = _segmentStages[s][stage] with { Offered = _segmentStages[s][stage].Offered + _taken[s] };
                var failing = Binomial(_random, _taken[s], _failureRate[s]);
                _inFlight[Kind(s, 0, fails: true)] += failing;
                _inFlight[Kind(s, 0, fails: false)] += _taken[s] - failing;
            }

            _inFlightTotal += offers;
            _exposed += offers;
            _stages[stage] = _stages[stage] with { Offered = _stages[stage].Offered + offers };
        }

        /// <summary>Counts the reports just taken: a success or a last failed attempt is final; an earlier failure retries.</summary>
        private void Count(int stage)
        {
            long decided = 0, failures = 0;
            for (var kind = 0; kind < _takenKinds.Length; kind++)
            {
                var n = _takenKinds[kind];
                if (n == 0)
                {
                    continue;
                }

                _reporting[kind] -= n;
                var segment = kind / 2 / _attempts;
                var attempt = kind / 2 % _attempts;
                if (!IsFailure(kind) || attempt == _attempts - 1)
                {
                    var failed = IsFailure(kind) ? n : 0;
                    decided += n;
                    failures += failed;
                    _decidedBySegment[segment] += n;
                    _failuresBySegment[segment] += failed;
                    var bySegment = _segmentStages[segment][stage];
                    _segmentStages[segment][stage] = bySegment with { Decided = bySegment.Decided + n, Failures = bySegment.Failures + failed };
                }
                else
                {
                    var failingAgain = _settings.StickyFaults ? n : Binomial(_random, n, _failureRate[segment]);
                    _retrying[Kind(segment, attempt + 1, fails: true)] += failingAgain;
                    _retrying[Kind(segment, attempt + 1, fails: false)] += n - failingAgain;
                    _retryingTotal += n;
                }
            }

            _decided += decided;
            _failures += failures;
            var counted = _stages[stage];
            _stages[stage] = counted with { Decided = counted.Decided + decided, Failures = counted.Failures + failures };
            if (!_changed && _settings.Change is { } change && _decided >= change.AfterOutcomes)
            {
                _changed = true;
                Array.Fill(_failureRate, change.FailureRate);
            }
        }

        private RolloutSimulationResult Result(bool halted, int stage)
        {
            FailureBlame? blame = null;
            if (halted)
            {
                var tally = new CohortAttribution.Tally();
                for (var s = 0; s < _fleet.Length; s++)
                {
                    tally.Add(_fleet[s].Cohort, _decidedBySegment[s], _failuresBySegment[s], _fleet[s].ErrorCode);
                }

                blame = tally.Blame();
            }

            return new(halted, _decided, _failures, stage, _exposed,
                _settings.DeviceCount == 0 ? 0 : 100.0 * _exposed / _settings.DeviceCount,
                blame, HaltEvaluation.Evaluate(_settings.Halt, _stages))
            {
                CohortHalted = _cohortHalted,
                CohortHalts = _cohortHalts,
            };
        }
    }

    /// <summary>
    /// Which kinds the next <paramref name="batch"/> items come from, drawn without replacement from
    /// <paramref name="available"/> (a multivariate hypergeometric draw): kind by kind, each a hypergeometric draw
    /// from what is left, the most plentiful kind taking the rest.
    /// </summary>
    private static void TakeBatch(Random random, double[] logFactorials, long[] available, long availableTotal, long batch, long[] taken)
    {
        Array.Clear(taken);
        var largest = 0;
        for (var k = 1; k < available.Length; k++)
        {
            largest = available[k] > available[largest] ? k : largest;
        }

        var left = availableTotal;
        var toTake = batch;
        for (var k = 0; k < available.Length && toTake > 0; k++)
        {
            if (k == largest || available[k] == 0)
            {
                continue;
            }

            taken[k] = Hypergeometric(random, logFactorials, left, available[k], toTake);
            left -= available[k];
            toTake -= taken[k];
        }

        taken[largest] += toTake;
    }

    /// <summary>
    /// How many of <paramref name="draws"/> items drawn without replacement from <paramref name="population"/> are
    /// among its <paramref name="marked"/>: by inversion from 0 when P(0) is representable, else half the draws at a time.
    /// </summary>
    private static long Hypergeometric(Random random, double[] logFactorials, long population, long marked, long draws)
    {
        if (marked == 0 || draws == 0)
        {
            return 0;
        }

        if (marked == population)
        {
            return draws;
        }

        // P(0) = C(population − marked, draws) / C(population, draws), from ln n! (the fleet bounds every count).
        var unmarked = population - marked;
        var probability = unmarked < draws
            ? 0
            : Math.Exp(logFactorials[unmarked] - logFactorials[unmarked - draws] - logFactorials[population] + logFactorials[population - draws]);

        if (probability > 1e-280)
        {
            var u = random.NextDouble();
            var cumulative = probability;
            long k = 0;
            var most = Math.Min(draws, marked);
            while (u >= cumulative && k < most)
            {
                // P(k + 1) / P(k) = (marked − k)(draws − k) / ((k + 1)(population − marked − draws + k + 1))
                probability *= (double)(marked - k) * (draws - k) / ((k + 1) * (double)(population - marked - draws + k + 1));
                k++;
                cumulative += probability;
            }

            return k;
        }

        // P(0) underflows (many draws): the first half of the draws, then the second from what is left — still exact.
        var firstHalf = draws / 2;
        var inFirst = Hypergeometric(random, logFactorials, population, marked, firstHalf);
        return inFirst + Hypergeometric(random, logFactorials, population - firstHalf, marked - inFirst, draws - firstHalf);
    }

    /// <summary>ln n! for n = 0 … <paramref name="max"/>.</summary>
    private static double[] LogFactorials(int max)
    {
        var table = new double[max + 1];
        for (var n = 2; n <= max; n++)
        {
            table[n] = table[n - 1] + Math.Log(n);
        }

        return table;
    }

    /// <summary>
    /// A Binomial(n, p) draw by inversion of the CDF from k = 0, about n·min(p, 1 − p) + 1 steps: by symmetry for
    /// p &gt; ½, and in chunks small enough that q^chunk stays far from underflow.
    /// </summary>
    private static long Binomial(Random random, long n, double p)
    {
        if (p <= 0 || n == 0)
        {
            return 0;
        }

        if (p >= 1)
        {
            return n;
        }

        if (p > 0.5)
        {
            return n - Binomial(random, n, 1 - p);
        }

        var chunk = Math.Max(1, (long)(200 / p));
        long count = 0;
        for (var left = n; left > 0; left -= chunk)
        {
            count += BinomialByInversion(random, Math.Min(left, chunk), p);
        }

        return count;
    }

    private static long BinomialByInversion(Random random, long n, double p)
    {
        var q = 1 - p;
        var probability = Math.Exp(n * Math.Log(q));
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
