using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ZteRollout.Tests.Campaigns;

/// <summary>
/// The campaign grain judges devices, not attempts (issue 9, point 1): a failure that will be retried is undecided, so
/// failed attempts that their retries fix never halt a campaign, while a device that fails for good counts once.
/// Two silos, a real gRPC gateway, the reference agent, one fake clock.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PerDeviceHaltingTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private RolloutCluster System => fixture.System;

    private Task<Campaign> TickAsync(string id, TimeSpan by)
    {
        fixture.Clock.Advance(by);
        return System.Grains.Campaign(id).TickAsync()
            .ContinueWith(_ => System.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = id }, System.AdminHeaders).ResponseAsync).Unwrap();
    }

    [Fact]
    public async Task Threshold_FailedAttemptsThatRetriesFix_DoNotHalt_ButDevicesThatFailForGoodDo()
    {
        var package = await Scenario.UploadAsync(System, Scenario.Full("PDH-A", "P2.0"), Scenario.RandomBytes(1024, seed: 21));
        var fleet = await Fleet.CreateAsync(System, "pdh-a", 40, "P1.0", i => new AgentBehavior { Model = "PDH-A", FailInstall = i % 2 == 0 });
        var plan = new CampaignPlan
        {
            Name = "per device",
            Targets = { new CampaignTarget { Model = "PDH-A", PackageId = package.PackageId } },
            Eligibility = new Eligibility { Models = { "PDH-A" } },
            InProgressTimeoutSeconds = 3600,
            Retry = new RetryPolicy { MaxAttempts = 2, BackoffSeconds = 60, RetryableErrorCodes = { "E_INSTALL_WRITE" } },
            Halt = new HaltPolicy { Threshold = new ThresholdPolicy { MaxFailureRate = 0.49, MinCompleted = 10 } },
        };
        await System.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = "pdh-a", Plan = plan }, System.AdminHeaders);
        await System.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = "pdh-a", Reason = "per device" }, System.AdminHeaders);

        // Half the devices fail their first attempt: 20 failed of 40 attempts, 50 % by attempts (a halt by the old count), but no device is done failing.
        await fleet.RoundAsync();
        var afterFirstAttempts = await TickAsync("pdh-a", TimeSpan.FromMinutes(2));

        // Their second attempt fails too, for good: 20 of 40 devices (50 %) > 49 %.
        await fleet.RoundAsync();
        var afterBudgetSpent = await TickAsync("pdh-a", TimeSpan.FromMinutes(1));

        output.WriteLine($"after first attempts: {afterFirstAttempts.State}; after the budget: {afterBudgetSpent.State}, {afterBudgetSpent.Halt?.Reason}");
        Assert.Equal((CampaignState.Running, 20UL, 20UL, 0.5), (afterFirstAttempts.State, afterFirstAttempts.Counts.Failed,
            afterFirstAttempts.Counts.Succeeded, afterFirstAttempts.FailureRate));
        Assert.Equal(CampaignState.Halted, afterBudgetSpent.State);
        Assert.Equal("policy:threshold", afterBudgetSpent.Halt?.By);
        Assert.StartsWith("failure rate 50.0% (20 failed of 40 devices offered, 0 undecided counted as successes) > 49.0% after ≥ 10 decided", afterBudgetSpent.Halt!.Reason);
        Assert.Equal(40.0 / 60, afterBudgetSpent.FailureRate, 12);
    }
}
