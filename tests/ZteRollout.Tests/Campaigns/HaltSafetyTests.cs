using Grpc.Core;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;
using A = ZteRollout.Admin.V1;

namespace ZteRollout.Tests.Campaigns;

/// <summary>
/// Halts that cannot be lost (issue 8): a halt stays effective when the calls behind it fail, a repeat succeeds, the
/// campaign's tick and every silo repair a halt that was stored but not published, snapshot versions never mean two
/// contents, and a halt never waits behind a timeout sweep or a viewer.
/// </summary>
[Collection(FaultClusterCollection.Name)]
public sealed class HaltSafetyTests(FaultClusterFixture fixture) : IDisposable
{
    /// <summary>Generous real-time bound for what runs on real time (a silo's snapshot poll runs every second).</summary>
    private static readonly TimeSpan RealTimeBound = TimeSpan.FromSeconds(10);

    private IGrainFactory Grains => fixture.Grains;

    public void Dispose() => fixture.ClearFaults();

    [Fact]
    public async Task Halt_WhileThePackageCatalogFails_IsAcknowledgedFirstTime_AndNoSiloOffers()
    {
        await fixture.StartCampaignAsync("hs-cat", "HS-CAT");
        var (before, _) = await fixture.FreshCheckInsAsync("hs-cat-a", "HS-CAT", count: 10);
        fixture.Calls.Fail<IPackageCatalogGrain>(nameof(IPackageCatalogGrain.GetAsync), times: int.MaxValue);
        fixture.Calls.Fail<IPackageCatalogGrain>(nameof(IPackageCatalogGrain.ListAsync), times: int.MaxValue);

        var halted = await Grains.Campaign("hs-cat").HaltAsync("oncall", "spike in E_BOOT");
        var (after, silos) = await fixture.FreshCheckInsAsync("hs-cat-b", "HS-CAT");

        Assert.Equal(10, before);
        Assert.Equal(CampaignState.Halted, halted.State);
        Assert.Equal((0, 2), (after, silos));
    }

    [Fact]
    public async Task Halt_WhoseDirectoryCallFails_IsStored_AndItsRetrySucceedsAndStopsEveryOffer()
    {
        await fixture.StartCampaignAsync("hs-dir", "HS-DIR");
        var record = fixture.Calls.Fail<ICampaignDirectoryGrain>(nameof(ICampaignDirectoryGrain.RecordAsync), times: 1);

        var first = await Record.ExceptionAsync(() => Grains.Campaign("hs-dir").HaltAsync("oncall", "spike"));
        var retried = await Grains.Campaign("hs-dir").HaltAsync("oncall", "spike");
        var (after, silos) = await fixture.FreshCheckInsAsync("hs-dir-b", "HS-DIR");

        Assert.NotNull(first);
        Assert.Equal(1, record.Caught);
        Assert.Equal((CampaignState.Halted, true), (retried.State, retried.Unchanged));
        Assert.Single(retried.Audit, a => a.Action == "halt");
        Assert.Equal((0, 2), (after, silos));
    }

    [Fact]
    public async Task Halt_StoredButNotPublished_IsPublishedByTheCampaignsTick()
    {
        await fixture.StartCampaignAsync("hs-tick", "HS-TICK");
        fixture.Calls.Fail<ICampaignDirectoryGrain>(nameof(ICampaignDirectoryGrain.RecordAsync), times: 1);
        await Assert.ThrowsAnyAsync<Exception>(() => Grains.Campaign("hs-tick").HaltAsync("policy:threshold", "failure rate 0.3"));

        await Grains.Campaign("hs-tick").TickAsync();
        var (after, silos) = await fixture.FreshCheckInsAsync("hs-tick-b", "HS-TICK");

        Assert.Equal((0, 2), (after, silos));
    }

    [Fact]
    public async Task Halt_StoredButNotPublished_EverySiloStopsOffering_WithoutARetryOrATick()
    {
        await fixture.StartCampaignAsync("hs-silo", "HS-SILO");
        fixture.Calls.Fail<ICampaignDirectoryGrain>(nameof(ICampaignDirectoryGrain.RecordAsync), times: 1);
        await Assert.ThrowsAnyAsync<Exception>(() => Grains.Campaign("hs-silo").HaltAsync("policy:sequential", "llr 3.1"));

        // Each silo asks the campaigns its snapshot lets offer to reconcile the directory with what they stored.
        var stopped = await FaultClusterFixture.EventuallyAsync(
            () => Task.FromResult(fixture.SiloSnapshots().All(s => s?.Campaigns.Single(c => c.CampaignId == "hs-silo").ExposurePercent == 0)),
            RealTimeBound);
        var (after, silos) = await fixture.FreshCheckInsAsync("hs-silo-b", "HS-SILO");

        Assert.True(stopped, "a silo still lets the halted campaign offer");
        Assert.Equal((0, 2), (after, silos));
    }

    [Fact]
    public async Task PauseAndCancel_Repeated_SucceedUnchanged_AndAreAuditedOnce()
    {
        await fixture.StartCampaignAsync("hs-rep", "HS-REP");
        var campaign = Grains.Campaign("hs-rep");

        var paused = await campaign.PauseAsync("rm", "look first");
        var pausedAgain = await campaign.PauseAsync("rm", "look first");
        var canceled = await campaign.CancelAsync("rm", "bad build");
        var canceledAgain = await campaign.CancelAsync("rm", "bad build");

        Assert.Equal((CampaignState.Paused, false), (paused.State, paused.Unchanged));
        Assert.Equal((CampaignState.Paused, true), (pausedAgain.State, pausedAgain.Unchanged));
        Assert.Equal((CampaignState.Canceled, false), (canceled.State, canceled.Unchanged));
        Assert.Equal((CampaignState.Canceled, true), (canceledAgain.State, canceledAgain.Unchanged));
        Assert.Equal(["create", "start", "pause", "cancel"], canceledAgain.Audit.Select(a => a.Action));
    }

    [Fact]
    public async Task FleetFreeze_Repeated_SucceedsAndKeepsWhoFrozeItAndWhy()
    {
        var directory = Grains.GetGrain<ICampaignDirectoryGrain>(0);
        try
        {
            var first = await directory.FreezeAsync("oncall", "incident 42");
            var again = await directory.FreezeAsync("second-sre", "incident 42, retried");
            var frozenEverywhere = fixture.SiloSnapshots().All(s => s?.Frozen == true);

            Assert.Equal((true, "oncall", "incident 42"), (first.Frozen, first.By, first.Reason));
            Assert.Equal(first, again);
            Assert.True(frozenEverywhere, "a silo does not hold the freeze");
        }
        finally
        {
            await directory.UnfreezeAsync("oncall", "resolved");
        }
    }

    [Fact]
    public async Task HaltCommand_RepeatedOnAHaltedCampaign_SucceedsAndSaysItWasAlreadyHalted()
    {
        await fixture.StartCampaignAsync("hs-cli", "HS-CLI");
        string[] halt = ["campaigns", "halt", "hs-cli", "--reason", "spike", "--gateway", fixture.System.GatewayAddresses[0], "--api-key", fixture.System.AdminKey];

        var first = await CliRunner.RunAsync(halt);
        var again = await CliRunner.RunAsync(halt);

        Assert.Equal((0, string.Empty), (first.ExitCode, first.Stderr));
        Assert.DoesNotContain("already", first.Stdout);
        Assert.Equal((0, string.Empty), (again.ExitCode, again.Stderr));
        Assert.Contains("campaign hs-cli was already halted", again.Stdout);
    }

    [Fact]
    public async Task DirectoryWrite_ThatFails_PublishesNothing_SoAVersionNeverMeansTwoContents()
    {
        await fixture.StartCampaignAsync("hs-ver-x", "HS-VERX");
        var failing = fixture.Storage.FailWrites("campaigndirectory", times: 1);
        await Assert.ThrowsAnyAsync<Exception>(() => Grains.Campaign("hs-ver-x").HaltAsync("oncall", "spike"));

        // A different change after the failed one gets the next version number.
        await fixture.StartCampaignAsync("hs-ver-y", "HS-VERY");

        // Every silo holds, under each version number, exactly what the directory stored under it.
        string? mismatch = null;
        var agreed = await FaultClusterFixture.EventuallyAsync(async () =>
        {
            var stored = (await Grains.GetGrain<ICampaignDirectoryGrain>(0).PollAsync(-1, null))!;
            var cached = fixture.SiloSnapshots();
            if (cached.Any(c => c is null || c.Version != stored.Version))
            {
                return false;
            }

            mismatch = cached.Select(c => Describe(c!)).FirstOrDefault(d => d != Describe(stored)) is { } differs ? $"directory {Describe(stored)}, a silo {differs}" : null;
            return true;
        }, RealTimeBound);

        Assert.Equal(1, failing.Caught);
        Assert.True(agreed, "the silos never reached the directory's version");
        Assert.Null(mismatch);
    }

    [Fact]
    public async Task Halt_WhileFiveThousandTimedOutOffersAreSwept_IsAcknowledgedAndEffectiveBeforeTheSweepEnds()
    {
        const int Overdue = 5000;
        await fixture.StartCampaignAsync("hs-sweep", "HS-SWEEP", timeout: TimeSpan.FromMinutes(10));
        var ids = Enumerable.Range(0, Overdue).Select(i => $"hs-sweep-{i}").ToList();
        await fixture.RegisterAsync(ids);
        var offered = 0;
        foreach (var chunk in ids.Chunk(1000))
        {
            var results = await Task.WhenAll(chunk.Select(id => Grains.Device(id).CheckInAsync(FaultClusterFixture.Facts("HS-SWEEP"))));
            offered += results.Count(r => r.Outcome == CheckInOutcome.Offer);
        }

        fixture.Clock.Advance(TimeSpan.FromMinutes(11));
        var expiries = fixture.Calls.Hold<IDeviceGrain>(nameof(IDeviceGrain.ExpireOfferAsync));
        var campaign = Grains.Campaign("hs-sweep");

        // The tick's sweep begins (every expiry is held, so it cannot end), then an SRE halts.
        var tick = campaign.TickAsync();
        var sweeping = await FaultClusterFixture.EventuallyAsync(() => Task.FromResult(expiries.Caught > 0), RealTimeBound);
        var halt = campaign.HaltAsync("oncall", "spike");
        var first = await Task.WhenAny(halt, tick, Task.Delay(TimeSpan.FromSeconds(20)));
        var haltAckedFirst = first == halt && !tick.IsCompleted;
        var (offersAfterHalt, silos) = haltAckedFirst ? await fixture.FreshCheckInsAsync("hs-sweep-late", "HS-SWEEP") : (-1, 0);
        var sweepStillRunning = !tick.IsCompleted;
        expiries.Release();
        await tick;
        var view = await campaign.GetAsync();

        Assert.Equal(Overdue, offered);
        Assert.True(sweeping, "the sweep never began");
        Assert.True(haltAckedFirst, "the halt was not acknowledged while the sweep ran");
        Assert.Equal(CampaignState.Halted, (await halt).State);
        Assert.Equal((0, 2), (offersAfterHalt, silos));
        Assert.True(sweepStillRunning, "the sweep ended before the halt's effect was checked");
        Assert.Equal(Overdue, view.Counts.TimedOut);
    }

    [Fact]
    public async Task Viewers_WhileTheCampaignIsBusy_AreServedWithoutWaitingForIt()
    {
        await fixture.StartCampaignAsync("hs-view", "HS-VIEW");
        var record = fixture.Calls.Hold<ICampaignDirectoryGrain>(nameof(ICampaignDirectoryGrain.RecordAsync));
        var campaign = Grains.Campaign("hs-view");

        // The pause holds the campaign's turn while its publication waits on the directory.
        var pause = campaign.PauseAsync("rm", "look first");
        var busy = await FaultClusterFixture.EventuallyAsync(() => Task.FromResult(record.Caught > 0), RealTimeBound);
        var latest = await campaign.GetLatestViewAsync().WaitAsync(RealTimeBound);
        var read = await campaign.GetAsync().WaitAsync(RealTimeBound);
        using var watch = fixture.System.Admin.WatchCampaign(new A.CampaignRequest { CampaignId = "hs-view" }, fixture.System.AdminHeaders);
        using var firstMessage = new CancellationTokenSource(RealTimeBound);
        var watched = await watch.ResponseStream.MoveNext(firstMessage.Token) ? watch.ResponseStream.Current : null;
        var pauseWasHeld = !pause.IsCompleted;
        record.Release();
        await pause;

        Assert.True(busy && pauseWasHeld, "the campaign was never busy");
        Assert.Equal(CampaignState.Paused, latest.State);
        Assert.Equal(CampaignState.Paused, read.State);
        Assert.Equal(A.CampaignState.Paused, watched?.State);
    }

    private static string Describe(CampaignSnapshot s) =>
        $"v{s.Version} frozen={s.Frozen} [{string.Join(", ", s.Campaigns.Select(c => $"{c.CampaignId}@{c.ExposurePercent}"))}]";
}
