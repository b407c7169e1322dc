using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Campaigns;

/// <summary>
/// The same blame as <see cref="CohortAttribution"/>, computed from per-cohort tallies instead of per-device
/// outcomes — what a campaign grain has, since the per-device records stay in its stats shards.
/// </summary>
public static class TallyAttribution
{
    public static FailureBlame Blame(IEnumerable<CohortTally> tallies, IReadOnlyDictionary<string, long> errorCodes, long totalCompleted, long totalFailures)
    {
        (string? Dimension, string? Value, long Failures, long Completed, double Score) best = (null, null, 0, 0, 0);
        foreach (var t in tallies)
        {
            var outsideCompleted = totalCompleted - t.Completed;
            if (t.Failures == 0 || t.Completed == 0 || outsideCompleted <= 0)
            {
                // A value that covers every completed device explains nothing.
                continue;
            }

            var rateIn = (double)t.Failures / t.Completed;
            var rateOut = (double)(totalFailures - t.Failures) / outsideCompleted;
            var score = t.Failures * (rateIn - rateOut);
            var better = score > best.Score
                || (score == best.Score && score > 0 && (t.Failures > best.Failures
                    || (t.Failures == best.Failures && string.CompareOrdinal(t.Dimension + "\n" + t.Value, best.Dimension + "\n" + best.Value) < 0)));
            if (better)
            {
                best = (t.Dimension, t.Value, t.Failures, t.Completed, score);
            }
        }

        var top = errorCodes.OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal).FirstOrDefault();
        return new FailureBlame(best.Dimension, best.Value, best.Failures, best.Completed,
            top.Value > 0 ? top.Key : null, top.Value, totalFailures);
    }
}
