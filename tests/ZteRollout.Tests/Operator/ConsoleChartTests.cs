using ZteRollout.Admin.V1;
using ZteRollout.Gateway.Operator;

namespace ZteRollout.Tests.Operator;

/// <summary>The campaign page's course: points recorded when the figures move, drawn as inline SVG with the policy's limit.</summary>
public sealed class ConsoleChartTests
{
    private static Campaign View(string id, ulong succeeded, ulong failed, double statistic) => new()
    {
        CampaignId = id,
        Counts = new CampaignCounts { Succeeded = succeeded, Failed = failed },
        FailureRate = succeeded + failed == 0 ? 0 : (double)failed / (succeeded + failed),
        HaltStatistic = statistic,
    };

    [Fact]
    public void Course_AddsAPoint_OnlyWhenTheFiguresMove_PerCampaign()
    {
        var course = new CampaignCourse();

        course.Record(View("a", 0, 0, 0));
        course.Record(View("a", 0, 0, 0));
        course.Record(View("a", 8, 2, 1.5));
        course.Record(View("b", 1, 0, 0));
        var a = course.Record(View("a", 8, 2, 1.5));

        Assert.Equal([new CampaignCoursePoint(0, 0, 0), new CampaignCoursePoint(10, 0.2, 1.5)], a);
        Assert.Equal([new CampaignCoursePoint(1, 0, 0)], course.Record(View("b", 1, 0, 0)));
    }

    [Fact]
    public void Course_StaysBounded_KeepingTheFirstAndLatestPoints()
    {
        var course = new CampaignCourse();
        IReadOnlyList<CampaignCoursePoint> series = [];
        for (ulong i = 0; i <= CampaignCourse.MaxPointsPerCampaign; i++)
        {
            series = course.Record(View("long", i, 0, 0));
        }

        // At 2000 points every second one between the first and the latest goes (999 of them), then the new one comes.
        Assert.Equal(1002, series.Count);
        Assert.Equal((0UL, (ulong)CampaignCourse.MaxPointsPerCampaign), (series[0].Completed, series[^1].Completed));
    }

    [Fact]
    public void Charts_DrawTheSeries_AndTheLimitLine_AtItsValue()
    {
        CampaignCoursePoint[] points = [new(0, 0, 0), new(50, 0.02, -1.2), new(100, 0.3, 6.1)];

        var rate = ConsoleChart.FailureRate(points, threshold: 0.1);
        var sequential = ConsoleChart.SequentialStatistic(points, boundary: 5.3);
        var empty = ConsoleChart.FailureRate([], threshold: null);

        // 100 completed span the 400 px plot; the rate axis tops at 30 %, so 10 % sits two thirds of 156 px down from 12.
        Assert.Contains("points=\"48,168 248,157.6 448,12 \" data-points=\"3\"", rate);
        Assert.Contains("data-threshold=\"0.1\" x1=\"48\" x2=\"448\" y1=\"116\" y2=\"116\"", rate);
        Assert.Contains("data-boundary=\"5.3\"", sequential);
        Assert.Contains("data-points=\"3\"", sequential);
        Assert.DoesNotContain("polyline", empty);
        Assert.DoesNotContain("class=\"limit\"", empty);
    }
}
