using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using ZteRollout.Admin.V1;

namespace ZteRollout.Gateway.Operator;

/// <summary>One point of a campaign's course: after <see cref="Completed"/> completed outcomes, the failure rate and the sequential statistic.</summary>
public readonly record struct CampaignCoursePoint(ulong Completed, double FailureRate, double HaltStatistic);

/// <summary>
/// The course of each campaign as this gateway's console saw it: a point whenever a rendered view of the campaign has
/// a new status (more completed outcomes or a moved statistic). The campaign keeps only its current figures, so the
/// series starts when a console first shows the campaign and lives in this process's memory (bounded per campaign).
/// </summary>
public sealed class CampaignCourse
{
    public const int MaxPointsPerCampaign = 2000;

    private readonly ConcurrentDictionary<string, List<CampaignCoursePoint>> _points = new(StringComparer.Ordinal);

    /// <summary>Adds the campaign's current figures when they differ from the last point; returns the series so far.</summary>
    public IReadOnlyList<CampaignCoursePoint> Record(Campaign campaign)
    {
        var counts = campaign.Counts ?? new CampaignCounts();
        var point = new CampaignCoursePoint(counts.Succeeded + counts.Failed + counts.RolledBack + counts.TimedOut, campaign.FailureRate, campaign.HaltStatistic);
        var series = _points.GetOrAdd(campaign.CampaignId, _ => []);
        lock (series)
        {
            if (series.Count == 0 || series[^1] != point)
            {
                if (series.Count == MaxPointsPerCampaign)
                {
                    // Keep the first point and thin the rest: the chart's shape survives, memory stays bounded.
                    for (var i = series.Count - 2; i > 0; i -= 2)
                    {
                        series.RemoveAt(i);
                    }
                }

                series.Add(point);
            }

            return [.. series];
        }
    }
}

/// <summary>Inline SVG charts of a campaign's course, drawn from its own figures (no chart library, nothing fetched).</summary>
public static class ConsoleChart
{
    private const int Width = 460;
    private const int Height = 200;
    private const int Left = 48;
    private const int Right = 12;
    private const int Top = 12;
    private const int Bottom = 32;

    private static string F(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary>The failure rate over completed outcomes, with the threshold policy's limit when the plan has one.</summary>
    public static string FailureRate(IReadOnlyList<CampaignCoursePoint> points, double? threshold) =>
        Draw("failure-rate-chart", "Failure rate over completed outcomes", points, p => p.FailureRate, threshold, "threshold",
            v => v.ToString("P0", CultureInfo.InvariantCulture), minimumTop: 0.1);

    /// <summary>The sequential test's statistic over completed outcomes, against the boundary at which a stage halts.</summary>
    public static string SequentialStatistic(IReadOnlyList<CampaignCoursePoint> points, double? boundary) =>
        Draw("sequential-chart", "Sequential statistic (log-likelihood ratio) over completed outcomes", points, p => p.HaltStatistic, boundary, "boundary",
            v => v.ToString("0.#", CultureInfo.InvariantCulture), minimumTop: 1);

    private static string Draw(string id, string title, IReadOnlyList<CampaignCoursePoint> points, Func<CampaignCoursePoint, double> value,
        double? limit, string limitName, Func<double, string> label, double minimumTop)
    {
        var maxX = Math.Max(1UL, points.Count == 0 ? 1UL : points.Max(p => p.Completed));
        var maxY = Math.Max(minimumTop, Math.Max(points.Count == 0 ? 0 : points.Max(value), (limit ?? 0) * 1.25));
        var minY = Math.Min(0, points.Count == 0 ? 0 : points.Min(value));
        double X(ulong completed) => Left + (Width - Left - Right) * (double)completed / maxX;
        double Y(double v) => Top + (Height - Top - Bottom) * (1 - (v - minY) / (maxY - minY));

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg id=\"{id}\" class=\"chart\" role=\"img\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" xmlns=\"http://www.w3.org/2000/svg\">");
        svg.Append("<title>").Append(title).Append("</title>");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{Height - Top - Bottom}\" fill=\"#f6f7fa\" stroke=\"#ccd\"/>");
        foreach (var tick in new[] { minY, (minY + maxY) / 2, maxY })
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 4}\" y=\"{F(Y(tick) + 4)}\" text-anchor=\"end\" font-size=\"11\">{label(tick)}</text>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"{Height - 16}\" font-size=\"11\">0</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right}\" y=\"{Height - 16}\" text-anchor=\"end\" font-size=\"11\">{maxX}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{(Width + Left) / 2}\" y=\"{Height - 4}\" text-anchor=\"middle\" font-size=\"11\">completed outcomes</text>");
        if (limit is { } l)
        {
            svg.Append(CultureInfo.InvariantCulture,
                $"<line class=\"limit\" data-{limitName}=\"{l.ToString("R", CultureInfo.InvariantCulture)}\" x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{F(Y(l))}\" y2=\"{F(Y(l))}\" stroke=\"#b00020\" stroke-dasharray=\"6 4\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right - 4}\" y=\"{F(Y(l) - 4)}\" text-anchor=\"end\" font-size=\"11\" fill=\"#b00020\">{limitName} {label(l)}</text>");
        }

        if (points.Count > 0)
        {
            svg.Append("<polyline class=\"series\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"");
            foreach (var p in points)
            {
                svg.Append(F(X(p.Completed))).Append(',').Append(F(Y(value(p)))).Append(' ');
            }

            svg.Append(CultureInfo.InvariantCulture, $"\" data-points=\"{points.Count}\"/>");
            var last = points[^1];
            svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(X(last.Completed))}\" cy=\"{F(Y(value(last)))}\" r=\"3\" fill=\"#1f5fbf\"/>");
        }

        return svg.Append("</svg>").ToString();
    }
}
