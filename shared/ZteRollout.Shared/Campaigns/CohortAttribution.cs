using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Campaigns;

/// <summary>
/// One device's outcome for attribution. A failure is a completion (FAILED, ROLLED_BACK and TIMED_OUT are terminal),
/// so <see cref="Failed"/> counts as completed even when <see cref="Completed"/> is not set.
/// </summary>
public sealed record CohortOutcome(Cohort Cohort, bool Completed, bool Failed, string? ErrorCode);

/// <summary>
/// Where a campaign's failures concentrate: the cohort value (<see cref="Dimension"/> = <see cref="Value"/>) whose
/// failures most exceed the rest of the fleet's rate, and the most frequent error code. Dimension and value are null,
/// and the cohort counts 0, when no value stands out (no failures, or every value covers the whole fleet).
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.FailureBlame")]
public sealed record FailureBlame(
    [property: Id(0)] string? Dimension,
    [property: Id(1)] string? Value,
    [property: Id(2)] long FailuresInCohort,
    [property: Id(3)] long CompletedInCohort,
    [property: Id(4)] string? TopErrorCode,
    [property: Id(5)] long TopErrorCodeCount,
    [property: Id(6)] long TotalFailures);

/// <summary>Names the cohort and the error code a halt should point at (DESIGN.md "Halting": a halt names where the failures are).</summary>
public static class CohortAttribution
{
    public const string Model = "model";
    public const string HardwareRevision = "hardware_revision";
    public const string Region = "region";
    public const string Carrier = "carrier";
    public const string SourceVersion = "source_version";

    /// <summary>
    /// Scores every (dimension, value) by failuresIn × (rateIn − rateOut), where rateOut is the failure rate of the
    /// completed devices outside that value: the excess failures the value explains. A value shared by every completed
    /// device scores 0, so a region the whole fleet is in is never blamed for one model's failures. Ties go to more
    /// failures, then to the ordinally first dimension and value.
    /// </summary>
    public static FailureBlame Blame(IEnumerable<CohortOutcome> outcomes)
    {
        var tally = new Tally();
        foreach (var outcome in outcomes)
        {
            var completed = outcome.Completed || outcome.Failed;
            tally.Add(outcome.Cohort, completed ? 1 : 0, outcome.Failed ? 1 : 0, outcome.ErrorCode);
        }

        return tally.Blame();
    }

    /// <summary>
    /// The same blame from figures already summed per cohort value — what a campaign grain has, since the per-device
    /// records stay in its stats shards. <paramref name="totalCompleted"/> and <paramref name="totalFailures"/> are
    /// the campaign's totals (every device counts once in each dimension).
    /// </summary>
    public static FailureBlame Blame(
        IEnumerable<Grains.CohortTally> tallies, IReadOnlyDictionary<string, long> errorCodes, long totalCompleted, long totalFailures)
    {
        var tally = new Tally();
        tally.AddTotals(totalCompleted, totalFailures);
        foreach (var t in tallies)
        {
            tally.AddValue(t.Dimension, t.Value, t.Completed, t.Failures);
        }

        foreach (var (code, count) in errorCodes)
        {
            tally.AddErrorCode(code, count);
        }

        return tally.Blame();
    }

    /// <summary>Counts by cohort value and error code; outcomes may be added one by one or already summed.</summary>
    internal sealed class Tally
    {
        private static readonly string[] Dimensions = [Model, HardwareRevision, Region, Carrier, SourceVersion];

        private readonly Dictionary<string, Counts>[] _byValue =
            [.. Dimensions.Select(_ => new Dictionary<string, Counts>(StringComparer.Ordinal))];

        private readonly Dictionary<string, long> _errorCodes = new(StringComparer.Ordinal);
        private long _completed;
        private long _failures;

        /// <summary>Adds <paramref name="completed"/> outcomes of one cohort, <paramref name="failures"/> of them failed with <paramref name="errorCode"/>.</summary>
        public void Add(Cohort cohort, long completed, long failures, string? errorCode)
        {
            if (completed == 0)
            {
                return;
            }

            _completed += completed;
            _failures += failures;
            Count(0, cohort.Model, completed, failures);
            Count(1, cohort.HardwareRevision, completed, failures);
            Count(2, cohort.Region, completed, failures);
            Count(3, cohort.Carrier, completed, failures);
            Count(4, cohort.SourceVersion, completed, failures);
            if (failures > 0 && errorCode is not null)
            {
                _errorCodes[errorCode] = _errorCodes.GetValueOrDefault(errorCode) + failures;
            }
        }

        public void AddTotals(long completed, long failures)
        {
            _completed += completed;
            _failures += failures;
        }

        /// <summary>Adds summed figures of one value of one dimension (totals come separately, through <see cref="AddTotals"/>).</summary>
        public void AddValue(string dimension, string value, long completed, long failures)
        {
            var index = Array.IndexOf(Dimensions, dimension);
            if (index >= 0 && completed > 0)
            {
                Count(index, value, completed, failures);
            }
        }

        public void AddErrorCode(string code, long count) => _errorCodes[code] = _errorCodes.GetValueOrDefault(code) + count;

        public FailureBlame Blame()
        {
            string? topCode = null;
            long topCount = 0;
            foreach (var (code, count) in _errorCodes)
            {
                if (count > topCount || (count == topCount && string.CompareOrdinal(code, topCode) < 0))
                {
                    (topCode, topCount) = (code, count);
                }
            }

            (string Dimension, string Value, Counts Counts, double Score)? best = null;
            for (var d = 0; d < Dimensions.Length; d++)
            {
                foreach (var (value, counts) in _byValue[d])
                {
                    var score = Score(counts);
                    if (score > 0 && (best is not { } b || IsBetter(Dimensions[d], value, counts, score, b)))
                    {
                        best = (Dimensions[d], value, counts, score);
                    }
                }
            }

            return best is { } blamed
                ? new FailureBlame(blamed.Dimension, blamed.Value, blamed.Counts.Failures, blamed.Counts.Completed, topCode, topCount, _failures)
                : new FailureBlame(null, null, 0, 0, topCode, topCount, _failures);
        }

        private double Score(Counts inside)
        {
            var completedOutside = _completed - inside.Completed;
            if (completedOutside == 0)
            {
                return 0;
            }

            var rateInside = (double)inside.Failures / inside.Completed;
            var rateOutside = (double)(_failures - inside.Failures) / completedOutside;
            return inside.Failures * (rateInside - rateOutside);
        }

        private static bool IsBetter(string dimension, string value, Counts counts, double score,
            (string Dimension, string Value, Counts Counts, double Score) best)
        {
            if (score != best.Score)
            {
                return score > best.Score;
            }

            if (counts.Failures != best.Counts.Failures)
            {
                return counts.Failures > best.Counts.Failures;
            }

            var byDimension = string.CompareOrdinal(dimension, best.Dimension);
            return byDimension != 0 ? byDimension < 0 : string.CompareOrdinal(value, best.Value) < 0;
        }

        private void Count(int dimension, string value, long completed, long failures)
        {
            var counts = _byValue[dimension].GetValueOrDefault(value);
            _byValue[dimension][value] = new Counts(counts.Completed + completed, counts.Failures + failures);
        }

        private readonly record struct Counts(long Completed, long Failures);
    }
}
