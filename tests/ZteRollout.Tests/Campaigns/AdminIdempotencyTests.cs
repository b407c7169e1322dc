using Grpc.Core;
using Microsoft.Data.Sqlite;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;
using A = ZteRollout.Admin.V1;

namespace ZteRollout.Tests.Campaigns;

/// <summary>
/// Admin calls that are safe to retry (issue 8, defect 5): a request id makes a retry a no-op, an advance names the
/// stage it leaves, and a start always leaves the campaign with its tick registered. Through the real gRPC gateway.
/// </summary>
[Collection(FaultClusterCollection.Name)]
public sealed class AdminIdempotencyTests(FaultClusterFixture fixture) : IDisposable
{
    private A.RolloutAdmin.RolloutAdminClient Admin => fixture.System.Admin;

    private Metadata Headers => fixture.System.AdminHeaders;

    public void Dispose() => fixture.ClearFaults();

    private Task ManualThreeStagesAsync(string id) => fixture.StartCampaignAsync(id, id.ToUpperInvariant(), shape: plan => plan with
    {
        AutoAdvance = false,
        Stages = [new StagePlan(10, TimeSpan.Zero, 0, 0), new StagePlan(50, TimeSpan.Zero, 0, 0), new StagePlan(100, TimeSpan.Zero, 0, 0)],
    });

    [Fact]
    public async Task Advance_RetriedWithItsRequestId_AdvancesOnce()
    {
        await ManualThreeStagesAsync("ai-adv");
        var request = new A.CampaignRequest { CampaignId = "ai-adv", Reason = "gate judged by hand", RequestId = "advance-7f3a", FromStage = 0 };

        var first = await Admin.AdvanceCampaignAsync(request, Headers);
        var retried = await Admin.AdvanceCampaignAsync(request, Headers);

        Assert.Equal((1U, false), (first.CurrentStage, first.Unchanged));
        Assert.Equal((1U, true), (retried.CurrentStage, retried.Unchanged));
        Assert.Single(retried.Audit, a => a.Action.StartsWith("advance", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Advance_FromAStageTheCampaignAlreadyLeft_IsFailedPreconditionNamingTheCurrentStage()
    {
        await ManualThreeStagesAsync("ai-cas");
        await Admin.AdvanceCampaignAsync(new A.CampaignRequest { CampaignId = "ai-cas", RequestId = "first-call", FromStage = 0 }, Headers);

        // A second client (or a retry without its request id) that also meant to leave stage 1.
        var stale = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, () =>
            Admin.AdvanceCampaignAsync(new A.CampaignRequest { CampaignId = "ai-cas", RequestId = "second-call", FromStage = 0 }, Headers).ResponseAsync);
        var campaign = await Admin.GetCampaignAsync(new A.CampaignRequest { CampaignId = "ai-cas" }, Headers);

        Assert.Equal("campaign 'ai-cas' is at stage 2 of 3 (current_stage 1); this advance is from current_stage 0", stale.Status.Detail);
        Assert.Equal(1U, campaign.CurrentStage);
    }

    [Fact]
    public async Task RequestId_ReusedForADifferentCall_IsInvalidArgumentNamingIt()
    {
        await fixture.StartCampaignAsync("ai-reuse", "AI-REUSE");
        await Admin.PauseCampaignAsync(new A.CampaignRequest { CampaignId = "ai-reuse", RequestId = "ticket-42" }, Headers);

        var reused = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
            Admin.ResumeCampaignAsync(new A.CampaignRequest { CampaignId = "ai-reuse", RequestId = "ticket-42" }, Headers).ResponseAsync);

        Assert.Equal(["request_id"], RpcAssert.Fields(reused));
    }

    [Fact]
    public async Task Resume_RetriedWithItsRequestId_IsANoOp()
    {
        await fixture.StartCampaignAsync("ai-res", "AI-RES");
        await Admin.HaltCampaignAsync(new A.CampaignRequest { CampaignId = "ai-res", Reason = "spike" }, Headers);
        var request = new A.CampaignRequest { CampaignId = "ai-res", Reason = "fixed", RequestId = "resume-1" };

        var first = await Admin.ResumeCampaignAsync(request, Headers);
        var retried = await Admin.ResumeCampaignAsync(request, Headers);

        Assert.Equal((A.CampaignState.Running, false), (first.State, first.Unchanged));
        Assert.Equal((A.CampaignState.Running, true), (retried.State, retried.Unchanged));
    }

    [Fact]
    public async Task Create_RetriedWithItsRequestId_AnswersTheCampaignInsteadOfAlreadyExists()
    {
        var package = await Scenario.UploadAsync(fixture.System, Scenario.Full("AI-NEW", "N2.0"), Scenario.RandomBytes(512, seed: 81));
        var create = new A.CreateCampaignRequest
        {
            CampaignId = "ai-new",
            RequestId = "create-ai-new",
            Plan = new A.CampaignPlan { Name = "new", Targets = { new A.CampaignTarget { Model = "AI-NEW", PackageId = package.PackageId } } },
        };

        var first = await Admin.CreateCampaignAsync(create, Headers);
        var retried = await Admin.CreateCampaignAsync(create, Headers);
        var another = await RpcAssert.FailsAsync(StatusCode.AlreadyExists, () =>
            Admin.CreateCampaignAsync(new A.CreateCampaignRequest { CampaignId = "ai-new", Plan = create.Plan, RequestId = "someone-else" }, Headers).ResponseAsync);

        Assert.Equal((A.CampaignState.Draft, false), (first.State, first.Unchanged));
        Assert.Equal((A.CampaignState.Draft, true), (retried.State, retried.Unchanged));
        Assert.Contains("already exists", another.Status.Detail);
    }

    [Fact]
    public async Task Start_RepeatedOnARunningCampaignWhoseTickWasLost_RegistersTheTickAgain()
    {
        await fixture.StartCampaignAsync("ai-tick", "AI-TICK");
        var registered = await TickRemindersAsync("ai-tick");

        // As when the first start stored RUNNING but its reminder registration failed.
        await ExecuteAsync("DELETE FROM OrleansRemindersTable WHERE GrainId LIKE '%campaign/ai-tick%'");
        var lost = await TickRemindersAsync("ai-tick");
        var again = await Admin.StartCampaignAsync(new A.CampaignRequest { CampaignId = "ai-tick" }, Headers);

        Assert.Equal((1L, 0L), (registered, lost));
        Assert.Equal((A.CampaignState.Running, true), (again.State, again.Unchanged));
        Assert.Equal(1L, await TickRemindersAsync("ai-tick"));
    }

    private async Task<long> TickRemindersAsync(string campaignId)
    {
        await using var connection = new SqliteConnection($"Data Source={fixture.DatabaseFile}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM OrleansRemindersTable WHERE GrainId LIKE '%campaign/{campaignId}%' AND ReminderName = 'tick'";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={fixture.DatabaseFile};Default Timeout=30");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
