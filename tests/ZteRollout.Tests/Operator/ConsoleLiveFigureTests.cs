using Google.Protobuf.WellKnownTypes;
using ZteRollout.Admin.V1;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Operator;

namespace ZteRollout.Tests.Operator;

/// <summary>
/// The campaign page's live part shows what issue 9 added to a campaign's status: successes pending health
/// confirmation (per campaign and per stage) and cohorts halted on their own, with user text encoded.
/// </summary>
public sealed class ConsoleLiveFigureTests
{
    private static readonly ApiKeyIdentity Viewer = new("viewer", "viewer");

    private static Campaign Running() => new()
    {
        CampaignId = "live-figures",
        State = CampaignState.Running,
        Plan = new CampaignPlan { Name = "figures" },
        Counts = new CampaignCounts { Offered = 40, PendingConfirmation = 7, Succeeded = 12, Failed = 3 },
        Stages = { new StageStatus { Index = 0, Plan = new Stage { Percent = 100 }, Counts = new CampaignCounts { Offered = 40, PendingConfirmation = 7, Succeeded = 12 } } },
    };

    [Fact]
    public void PendingConfirmations_AreCounted_ForTheCampaignAndEachStage()
    {
        var html = ConsolePages.Live(Viewer, Running(), new FleetStatus(), [], shownState: null);

        Assert.Contains("<td data-count=\"pending-confirmation\">7</td>", html);
        Assert.Contains("<td>12</td><td>7</td><td>0</td><td>0</td></tr>", html); // stage: succeeded, pending, failed, in progress
        Assert.DoesNotContain("halted-cohorts", html);
    }

    [Fact]
    public void HaltedCohorts_AreListed_WithWhoWhyAndTheFigures_Encoded()
    {
        var campaign = Running();
        campaign.HaltedCohorts.Add(new CohortHalt
        {
            Dimension = "hardware_revision",
            Value = "<b>R3</b>",
            By = "policy:threshold",
            Reason = "failure rate 40.0% > 5.0%",
            At = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 12, 1, 6, 0, 0, TimeSpan.Zero)),
            Figures = "cohort 8 failed of 20; rest 1 failed of 60",
        });

        var html = ConsolePages.Live(Viewer, campaign, new FleetStatus(), [], shownState: null);

        Assert.Contains(
            "<li class=\"blamed\"><strong>hardware_revision=&lt;b&gt;R3&lt;/b&gt;</strong> by policy:threshold at 2026-12-01 06:00:00Z: failure rate 40.0% &gt; 5.0% (cohort 8 failed of 20; rest 1 failed of 60)</li>",
            html);
        Assert.Contains("zte-rollout campaigns lift-cohort-halt live-figures --cohort DIMENSION=VALUE --reason TEXT", html);
    }
}
