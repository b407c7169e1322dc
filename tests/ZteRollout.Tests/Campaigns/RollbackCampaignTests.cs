using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ZteRollout.Tests.Campaigns;

/// <summary>
/// A bad release is halted by its policy in stage 1, then a rollback campaign takes the devices that got it back
/// to the previous version: two silos, a real gRPC gateway, the reference agent, one fake clock.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RollbackCampaignTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private const string Model = "RB-A";
    private const string Previous = "MF18.2.1.B07";
    private const string BadRelease = "MF18.2.1.B08";

    private RolloutCluster System => fixture.System;

    private Task<Campaign> GetAsync(string id) =>
        System.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = id }, System.AdminHeaders).ResponseAsync;

    private async Task<Campaign> CreateAndStartAsync(string id, CampaignPlan plan)
    {
        await System.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = id, Plan = plan }, System.AdminHeaders);
        return await System.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = id, Reason = "rollback e2e" }, System.AdminHeaders);
    }

    private async Task<Campaign> PassTimeAsync(string id, TimeSpan by)
    {
        fixture.Clock.Advance(by);
        await System.Grains.Campaign(id).TickAsync();
        return await GetAsync(id);
    }

    private static CampaignPlan Plan(string name, string packageId, bool rollback, params double[] stagePercents)
    {
        var plan = new CampaignPlan
        {
            Name = name,
            Rollback = rollback,
            Targets = { new CampaignTarget { Model = Model, PackageId = packageId } },
            Eligibility = new Eligibility { Models = { Model } },
            InProgressTimeoutSeconds = 3600,
            Retry = new RetryPolicy { MaxAttempts = 1 },
            Halt = new HaltPolicy { Threshold = new ThresholdPolicy { MaxFailureRate = 0.2, MinCompleted = 5 } },
        };
        foreach (var percent in stagePercents)
        {
            plan.Stages.Add(new Stage { Percent = percent, MinSoakSeconds = 600, GateMinCompleted = 5, GateMinSuccessRate = 0.9 });
        }

        return plan;
    }

    [Fact]
    public async Task BadReleaseHaltedInStageOne_RollbackCampaign_BringsTheDevicesThatGotItBack_AndCountsMatchTheDevices()
    {
        var bad = Scenario.Full(Model, BadRelease);
        bad.SecurityVersion = 1;
        var badPackage = await Scenario.UploadAsync(System, bad, Scenario.RandomBytes(4096, seed: 81));
        var rollback = Scenario.Full(Model, Previous);
        rollback.SecurityVersion = 1;
        rollback.RollbackFrom.Add(BadRelease);
        var rollbackPackage = await Scenario.UploadAsync(System, rollback, Scenario.RandomBytes(4096, seed: 82));
        // One device in three cannot write the new image: a release that fails a third of its installs.
        var fleet = await Fleet.CreateAsync(System, "rb-a", 300, Previous, i => new AgentBehavior { Model = Model, FailInstall = i % 3 == 0 });

        await CreateAndStartAsync("rb-bad", Plan("B08", badPackage.PackageId, rollback: false, 10, 50, 100));
        var release = await fleet.RoundAsync();
        var halted = await PassTimeAsync("rb-bad", TimeSpan.FromMinutes(1));

        var gotBadRelease = release.Where(r => r.Value.Outcome == AgentOutcome.Succeeded).Select(r => r.Key).ToHashSet();
        var failedBadRelease = release.Count(r => r.Value.Outcome == AgentOutcome.Failed);
        output.WriteLine($"release: {gotBadRelease.Count} on {BadRelease}, {failedBadRelease} failed, {release.Values.Count(r => r.Outcome == AgentOutcome.Withdrawn)} withdrawn; halt {halted.Halt}; counts {halted.Counts}");
        Assert.Equal((CampaignState.Halted, 0U), (halted.State, halted.CurrentStage));
        Assert.StartsWith("policy:", halted.Halt.By);
        Assert.NotEmpty(gotBadRelease);
        Assert.Equal(((ulong)gotBadRelease.Count, (ulong)failedBadRelease), (halted.Counts.Succeeded, halted.Counts.Failed));
        // Every other offer is one the halt withdrew before its download began (CANCELED): the agent saw it withdrawn,
        // or never saw it at all (withdrawn while its check-in was answered).
        var withdrawn = release.Values.Count(r => r.Outcome == AgentOutcome.Withdrawn);
        Assert.Equal(halted.Counts.Offered, halted.Counts.Succeeded + halted.Counts.Failed + halted.Counts.Canceled);
        Assert.InRange((ulong)withdrawn, 0UL, halted.Counts.Canceled);

        await CreateAndStartAsync("rb-back", Plan("back to B07", rollbackPackage.PackageId, rollback: true, 100));
        var back = await fleet.RoundAsync();
        var settle = await fleet.RoundAsync();
        var rolledBack = await PassTimeAsync("rb-back", TimeSpan.FromMinutes(1));

        output.WriteLine($"rollback: {rolledBack.State}, counts {rolledBack.Counts}");
        Assert.Equal(gotBadRelease.Order(), back.Where(r => r.Value.Outcome == AgentOutcome.Succeeded).Select(r => r.Key).Order());
        Assert.All(back.Where(r => !gotBadRelease.Contains(r.Key)), r => Assert.Equal(AgentOutcome.NoUpdate, r.Value.Outcome));
        Assert.All(settle.Values, r => Assert.Equal(AgentOutcome.NoUpdate, r.Outcome));
        Assert.Equal(CampaignState.Running, rolledBack.State);
        Assert.Equal(
            ((ulong)gotBadRelease.Count, (ulong)gotBadRelease.Count, 0UL),
            (rolledBack.Counts.Offered, rolledBack.Counts.Succeeded, rolledBack.Counts.Failed));

        var devices = await Task.WhenAll(fleet.DeviceIds.Select(id =>
            System.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = id }, System.AdminHeaders).ResponseAsync));
        Assert.All(devices, d => Assert.Equal(Previous, d.CurrentVersion));
        Assert.Equal(
            gotBadRelease.Order(),
            devices.Where(d => d.CurrentOffer?.CampaignId == "rb-back" && d.CurrentOffer.Status == OfferStatus.Succeeded).Select(d => d.DeviceId).Order());

        // The bad release's figures are what they were at its halt: the rollback counts in its own campaign.
        var badAfter = await GetAsync("rb-bad");
        Assert.Equal((halted.Counts.Succeeded, halted.Counts.Failed), (badAfter.Counts.Succeeded, badAfter.Counts.Failed));
    }
}
