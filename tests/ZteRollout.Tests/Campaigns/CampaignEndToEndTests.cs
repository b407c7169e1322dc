using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ZteRollout.Tests.Campaigns;

/// <summary>Staged campaigns end to end: two silos, a real gRPC gateway, the reference agent, one fake clock.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CampaignEndToEndTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Soak = TimeSpan.FromMinutes(10);

    private RolloutCluster System => fixture.System;

    private static CampaignPlan StagedPlan(string name, params (string Model, string PackageId)[] targets)
    {
        var plan = new CampaignPlan
        {
            Name = name,
            Eligibility = new Eligibility(),
            InProgressTimeoutSeconds = 3600,
            Retry = new RetryPolicy { MaxAttempts = 2, BackoffSeconds = 60, RetryableErrorCodes = { "E_INSTALL_WRITE" } },
            Halt = new HaltPolicy
            {
                Threshold = new ThresholdPolicy { MaxFailureRate = 0.10, MinCompleted = 10 },
                Sequential = new SequentialPolicy { P0 = 0.03, P1 = 0.08, Alpha = 0.01, Beta = 0.01 },
            },
        };
        foreach (var (model, packageId) in targets)
        {
            plan.Targets.Add(new CampaignTarget { Model = model, PackageId = packageId });
            plan.Eligibility.Models.Add(model);
        }

        foreach (var percent in new[] { 1.0, 5, 25, 100 })
        {
            plan.Stages.Add(new Stage { Percent = percent, MinSoakSeconds = (uint)Soak.TotalSeconds, GateMinCompleted = 5, GateMinSuccessRate = 0.9 });
        }

        return plan;
    }

    private async Task<Campaign> CreateAndStartAsync(string id, CampaignPlan plan)
    {
        await System.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = id, Plan = plan }, System.AdminHeaders);
        return await System.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = id, Reason = "e2e" }, System.AdminHeaders);
    }

    private Task<Campaign> GetAsync(string id) => System.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = id }, System.AdminHeaders).ResponseAsync;

    /// <summary>Lets time pass: the soak elapses, and the campaign's timer work runs (what its reminder does every minute).</summary>
    private async Task<Campaign> PassTimeAsync(string id, TimeSpan by)
    {
        fixture.Clock.Advance(by);
        await System.Grains.Campaign(id).TickAsync();
        return await GetAsync(id);
    }

    [Fact]
    public async Task StagedCampaign_OnePercentFailures_AutoAdvancesThroughEveryStageToCompleted_AndCountsMatchDevices()
    {
        var package = await Scenario.UploadAsync(System, Scenario.Full("E2E-A", "E2.0"), Scenario.RandomBytes(4096, seed: 11));
        var fleet = await Fleet.CreateAsync(System, "e2e-a", 2000, "E1.0", i => new AgentBehavior { Model = "E2E-A", FailInstall = i % 100 == 42 });
        await CreateAndStartAsync("e2e-a", StagedPlan("four stages", ("E2E-A", package.PackageId)));

        var stagesSeen = new List<uint>();
        var campaign = await GetAsync("e2e-a");
        for (var round = 0; round < 12 && campaign.State != CampaignState.Completed; round++)
        {
            await fleet.RoundAsync();
            campaign = await PassTimeAsync("e2e-a", Soak + TimeSpan.FromMinutes(1));
            stagesSeen.Add(campaign.CurrentStage);
        }

        output.WriteLine($"stages per round: {string.Join(",", stagesSeen)}; counts: {campaign.Counts}");
        Assert.Equal(CampaignState.Completed, campaign.State);
        Assert.Equal(
            new[] { "create", "start", "advance to stage 2", "advance to stage 3", "advance to stage 4", "complete" },
            campaign.Audit.Select(a => a.Action).ToArray());

        var devices = await Task.WhenAll(fleet.DeviceIds.Select(id =>
            System.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = id }, System.AdminHeaders).ResponseAsync));
        var byStatus = devices.GroupBy(d => d.CurrentOffer.Status).ToDictionary(g => g.Key, g => (ulong)g.Count());
        Assert.Equal(new[] { OfferStatus.Succeeded, OfferStatus.Failed }.Order(), byStatus.Keys.Order());
        Assert.Equal((byStatus[OfferStatus.Succeeded], byStatus[OfferStatus.Failed]), (campaign.Counts.Succeeded, campaign.Counts.Failed));
        Assert.Equal((20UL, 1980UL, 2000UL), (campaign.Counts.Failed, campaign.Counts.Succeeded, campaign.Counts.Offered));

        // Every failing device used its whole budget of two offers, and no more.
        foreach (var failed in devices.Where(d => d.CurrentOffer.Status == OfferStatus.Failed))
        {
            Assert.Equal(2, failed.History.Count(h => h.CampaignId == "e2e-a") + 1);
        }

        Assert.All(devices.Where(d => d.CurrentOffer.Status == OfferStatus.Succeeded), d => Assert.Equal("E2.0", d.CurrentVersion));
        Assert.Equal(40UL, campaign.ErrorCodes.Single(e => e.ErrorCode == "E_INSTALL_WRITE").Count);
    }

    [Fact]
    public async Task StagedCampaign_ThirtyPercentFailuresInOneModel_HaltsInStageOne_NoNewOffers_UntilAnSreResumes()
    {
        var bad = await Scenario.UploadAsync(System, Scenario.Full("E2E-B", "E2.0"), Scenario.RandomBytes(4096, seed: 12));
        var good = await Scenario.UploadAsync(System, Scenario.Full("E2E-C", "E2.0"), Scenario.RandomBytes(4096, seed: 13));
        var fleet = await Fleet.CreateAsync(System, "e2e-b", 2000, "E1.0", i => new AgentBehavior
        {
            Model = i % 2 == 0 ? "E2E-B" : "E2E-C",
            RollBackAfterReboot = i % 2 == 0 && i % 20 < 6,
        });
        var plan = StagedPlan("bad build", ("E2E-B", bad.PackageId), ("E2E-C", good.PackageId));
        plan.Retry = new RetryPolicy { MaxAttempts = 1 };
        await CreateAndStartAsync("e2e-b", plan);

        var first = await fleet.RoundAsync();
        var halted = await PassTimeAsync("e2e-b", TimeSpan.FromMinutes(1));

        output.WriteLine($"halt: {halted.Halt}; counts {halted.Counts}");
        Assert.Equal((CampaignState.Halted, 0U), (halted.State, halted.CurrentStage));
        Assert.StartsWith("policy:", halted.Halt.By);
        Assert.Equal(("model", "E2E-B", "E_BOOT_HEALTHCHECK"), (halted.Halt.Blame.Dimension, halted.Halt.Blame.Value, halted.Halt.Blame.TopErrorCode));
        var offeredAtHalt = halted.Counts.Offered;
        Assert.Equal(offeredAtHalt, (ulong)first.Values.Count(r => r.OfferId is not null));

        var afterHalt = await fleet.RoundAsync();
        Assert.All(afterHalt.Values, r => Assert.Equal(AgentOutcome.NoUpdate, r.Outcome));
        Assert.Equal(offeredAtHalt, (await GetAsync("e2e-b")).Counts.Offered);

        // A release manager may not undo an SRE's halt decision; an SRE (here the admin key) may.
        fleet.Behave((_, b) => b with { RollBackAfterReboot = false });
        var resumed = await System.Admin.ResumeCampaignAsync(new CampaignRequest { CampaignId = "e2e-b", Reason = "fixed boot config" }, System.AdminHeaders);
        Assert.Equal(CampaignState.Running, resumed.State);
        await System.Admin.AdvanceCampaignAsync(new CampaignRequest { CampaignId = "e2e-b", Reason = "gate judged by hand" }, System.AdminHeaders);
        var continued = await fleet.RoundAsync();
        var after = await PassTimeAsync("e2e-b", TimeSpan.FromMinutes(1));

        Assert.True(continued.Values.Count(r => r.Outcome == AgentOutcome.Succeeded) > 0);
        Assert.Equal(CampaignState.Running, after.State);
        Assert.True(after.Counts.Offered > offeredAtHalt);
    }

    [Fact]
    public async Task RetryBudget_RetryableCodeIsReofferedAfterBackoffUpToMaxAttempts_NonRetryableNever()
    {
        var package = await Scenario.UploadAsync(System, Scenario.Full("E2E-R", "E2.0"), Scenario.RandomBytes(1024, seed: 14));
        var plan = new CampaignPlan
        {
            Name = "retries",
            Targets = { new CampaignTarget { Model = "E2E-R", PackageId = package.PackageId } },
            Retry = new RetryPolicy { MaxAttempts = 3, BackoffSeconds = 600, RetryableErrorCodes = { "E_FLAKY" } },
        };
        await CreateAndStartAsync("e2e-r", plan);
        var tokens = await Scenario.RegisterAsync(System, "e2e-r-flaky", "e2e-r-fatal");
        async Task<string?> OfferAsync(string id) =>
            (await Scenario.CheckInAsync(System, id, tokens[id], Scenario.Facts("E2E-R", "E1.0"))).Offer?.OfferId;
        async Task FailAsync(string id, string offerId, string code) =>
            await Scenario.ReportAsync(System, id, tokens[id], offerId, InstallStep.Failed, errorCode: code);

        var flakyOffers = new List<string?>();
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var offer = await OfferAsync("e2e-r-flaky");
            flakyOffers.Add(offer);
            var tooEarly = await OfferAsync("e2e-r-flaky");
            if (offer is not null)
            {
                Assert.Equal(offer, tooEarly);
                await FailAsync("e2e-r-flaky", offer, "E_FLAKY");
                Assert.Null(await OfferAsync("e2e-r-flaky"));
            }

            fixture.Clock.Advance(TimeSpan.FromMinutes(11));
        }

        var fatal = await OfferAsync("e2e-r-fatal");
        await FailAsync("e2e-r-fatal", fatal!, "E_BRICKED");
        fixture.Clock.Advance(TimeSpan.FromHours(1));
        var fatalAgain = await OfferAsync("e2e-r-fatal");

        Assert.Equal(3, flakyOffers.Count(o => o is not null));
        Assert.Null(flakyOffers[3]);
        Assert.Equal(3, flakyOffers.Where(o => o is not null).Distinct().Count());
        Assert.Null(fatalAgain);
        var campaign = await GetAsync("e2e-r");
        Assert.Equal((4UL, 2UL), ((ulong)campaign.ErrorCodes.Sum(e => (long)e.Count), campaign.Counts.Failed));
    }

    [Fact]
    public async Task Timeout_AnOfferWithNoReportPastItsDeadline_BecomesTimedOut_WithoutTheDevice_AndCountsAsAFailure()
    {
        var package = await Scenario.UploadAsync(System, Scenario.Full("E2E-T", "E2.0"), Scenario.RandomBytes(1024, seed: 15));
        var plan = new CampaignPlan
        {
            Name = "timeouts",
            Targets = { new CampaignTarget { Model = "E2E-T", PackageId = package.PackageId } },
            InProgressTimeoutSeconds = 600,
        };
        await CreateAndStartAsync("e2e-t", plan);
        var tokens = await Scenario.RegisterAsync(System, "e2e-t-1");
        var offer = (await Scenario.CheckInAsync(System, "e2e-t-1", tokens["e2e-t-1"], Scenario.Facts("E2E-T", "E1.0"))).Offer;
        await Scenario.ReportAsync(System, "e2e-t-1", tokens["e2e-t-1"], offer.OfferId, InstallStep.Downloading);

        var before = await PassTimeAsync("e2e-t", TimeSpan.FromMinutes(9));
        var after = await PassTimeAsync("e2e-t", TimeSpan.FromMinutes(2));

        Assert.Equal((0UL, 1UL), (before.Counts.TimedOut, before.Counts.InProgress));
        Assert.Equal((1UL, 0UL), (after.Counts.TimedOut, after.Counts.InProgress));
        Assert.Equal(1.0, after.FailureRate);
        var device = await System.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "e2e-t-1" }, System.AdminHeaders);
        Assert.Equal((OfferStatus.TimedOut, "E_TIMED_OUT"), (device.CurrentOffer.Status, device.CurrentOffer.ErrorCode));
    }

    [Fact]
    public async Task OverlappingCampaigns_EachDeviceHoldsOneOffer_AndPriorityDecides()
    {
        var low = await Scenario.UploadAsync(System, Scenario.Full("E2E-O", "E2.0"), Scenario.RandomBytes(1024, seed: 16));
        var high = await Scenario.UploadAsync(System, Scenario.Full("E2E-O", "E3.0"), Scenario.RandomBytes(1024, seed: 17));
        await CreateAndStartAsync("e2e-o-low", new CampaignPlan { Name = "low", Priority = 1, Targets = { new CampaignTarget { Model = "E2E-O", PackageId = low.PackageId } } });
        await CreateAndStartAsync("e2e-o-high", new CampaignPlan { Name = "high", Priority = 5, Targets = { new CampaignTarget { Model = "E2E-O", PackageId = high.PackageId } } });
        var ids = Enumerable.Range(0, 20).Select(i => $"e2e-o-{i}").ToArray();
        var tokens = await Scenario.RegisterAsync(System, ids);

        var offers = await Task.WhenAll(ids.SelectMany(id => Enumerable.Range(0, 3).Select(async _ =>
            (Id: id, Offer: (await Scenario.CheckInAsync(System, id, tokens[id], Scenario.Facts("E2E-O", "E1.0"))).Offer))));

        Assert.All(offers.GroupBy(o => o.Id), g => Assert.Single(g.Select(o => o.Offer.OfferId).Distinct()));
        Assert.All(offers, o => Assert.Equal((high.PackageId, "e2e-o-high"), (o.Offer.PackageId, o.Offer.CampaignId)));
        Assert.Equal(0UL, (await GetAsync("e2e-o-low")).Counts.Offered);
        Assert.Equal(20UL, (await GetAsync("e2e-o-high")).Counts.Offered);
    }

    [Fact]
    public async Task Freeze_StopsEveryNewOffer_UntilLifted()
    {
        var package = await Scenario.UploadAsync(System, Scenario.Full("E2E-F", "E2.0"), Scenario.RandomBytes(1024, seed: 18));
        await CreateAndStartAsync("e2e-f", new CampaignPlan { Name = "freeze", Targets = { new CampaignTarget { Model = "E2E-F", PackageId = package.PackageId } } });
        var tokens = await Scenario.RegisterAsync(System, "e2e-f-1");

        var frozen = await System.Admin.FreezeFleetAsync(new FleetRequest { Reason = "incident 42" }, System.AdminHeaders);
        var whileFrozen = await Scenario.CheckInAsync(System, "e2e-f-1", tokens["e2e-f-1"], Scenario.Facts("E2E-F", "E1.0"));
        await System.Admin.UnfreezeFleetAsync(new FleetRequest { Reason = "resolved" }, System.AdminHeaders);
        var afterwards = await Scenario.CheckInAsync(System, "e2e-f-1", tokens["e2e-f-1"], Scenario.Facts("E2E-F", "E1.0"));

        Assert.Equal((true, "local-admin", "incident 42"), (frozen.Frozen, frozen.By, frozen.Reason));
        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, whileFrozen.DecisionCase);
        Assert.Equal(CheckInResponse.DecisionOneofCase.Offer, afterwards.DecisionCase);
        var missingReason = await RpcAssert.FailsAsync(StatusCode.InvalidArgument,
            () => System.Admin.FreezeFleetAsync(new FleetRequest(), System.AdminHeaders).ResponseAsync);
        Assert.Equal(new[] { "reason" }, RpcAssert.Fields(missingReason));
    }

    [Fact]
    public async Task WatchCampaign_StreamsTheCurrentStatus_ThenEveryChange()
    {
        var package = await Scenario.UploadAsync(System, Scenario.Full("E2E-W", "E2.0"), Scenario.RandomBytes(1024, seed: 19));
        await CreateAndStartAsync("e2e-w", new CampaignPlan { Name = "watch", Targets = { new CampaignTarget { Model = "E2E-W", PackageId = package.PackageId } } });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var watch = System.Admin.WatchCampaign(new CampaignRequest { CampaignId = "e2e-w" }, System.AdminHeaders, cancellationToken: cts.Token);

        Assert.True(await watch.ResponseStream.MoveNext(cts.Token));
        var first = watch.ResponseStream.Current;
        await System.Admin.PauseCampaignAsync(new CampaignRequest { CampaignId = "e2e-w", Reason = "look first" }, System.AdminHeaders);
        Assert.True(await watch.ResponseStream.MoveNext(cts.Token));
        var second = watch.ResponseStream.Current;
        await System.Admin.CancelCampaignAsync(new CampaignRequest { CampaignId = "e2e-w", Reason = "done" }, System.AdminHeaders);
        var states = new List<CampaignState>();
        while (await watch.ResponseStream.MoveNext(cts.Token))
        {
            states.Add(watch.ResponseStream.Current.State);
        }

        Assert.Equal((CampaignState.Running, CampaignState.Paused), (first.State, second.State));
        Assert.Equal(CampaignState.Canceled, states[^1]);
    }
}
