using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Xunit.Abstractions;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Grains;
using ZteRollout.Silo.Campaigns;
using ZteRollout.Silo.Hosting;
using ZteRollout.Silo.Storage;
using ZteRollout.Tests.Campaigns;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Faults;

/// <summary>
/// Faults injected into a cluster whose grain state and reminders live in a real PostgreSQL server: silo loss,
/// database outage, gateway loss, full restart, halt across silos, duplicates across gateways. Agents over real gRPC.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class FaultTests(PostgresFixture postgres, ITestOutputHelper output)
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 5, 7, 0, 0, TimeSpan.Zero));

    private async Task<(RolloutCluster System, string Data)> StartAsync(int silos, int gateways = 1, GrainCallFaults? faults = null)
    {
        var data = TestPaths.NewTempDirectory("fault");
        var database = new RolloutDatabase(DatabaseKind.PostgreSql, await postgres.NewDatabaseAsync());
        return (await RolloutCluster.StartAsync(data, _clock, silos, database, gateways, faults is null ? null : faults.Install), data);
    }

    private static CampaignPlan Staged(string model, string packageId, params double[] percents)
    {
        var plan = new CampaignPlan
        {
            Name = model,
            Targets = { new CampaignTarget { Model = model, PackageId = packageId } },
            InProgressTimeoutSeconds = 3600,
        };
        foreach (var percent in percents)
        {
            plan.Stages.Add(new Stage { Percent = percent, MinSoakSeconds = 600, GateMinCompleted = 1, GateMinSuccessRate = 0.5 });
        }

        return plan;
    }

    private static async Task<Campaign> StartCampaignAsync(RolloutCluster system, string id, CampaignPlan plan)
    {
        await system.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = id, Plan = plan }, system.AdminHeaders);
        return await system.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = id }, system.AdminHeaders);
    }

    private async Task<Campaign> TickAsync(RolloutCluster system, string id)
    {
        _clock.Advance(TimeSpan.FromMinutes(11));
        await system.Grains.Campaign(id).TickAsync();
        return await system.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = id }, system.AdminHeaders);
    }

    /// <summary>Runs rounds (each device checks in and updates) until the campaign completes; returns every round's results.</summary>
    private async Task<(Campaign Campaign, List<Dictionary<string, AgentRunResult>> Rounds)> RunToCompletionAsync(
        RolloutCluster system, Fleet fleet, string id, Func<int, Action<int>?>? faultInRound = null, Func<int, GrpcChannel?>? channelInRound = null)
    {
        var rounds = new List<Dictionary<string, AgentRunResult>>();
        var campaign = await system.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = id }, system.AdminHeaders);
        for (var round = 0; round < 10 && campaign.State != CampaignState.Completed; round++)
        {
            rounds.Add(await fleet.RoundAsync(channel: channelInRound?.Invoke(round), onProgress: faultInRound?.Invoke(round)));
            campaign = await TickAsync(system, id);
        }

        return (campaign, rounds);
    }

    /// <summary>Counts equal the device states, and no device ever held two offers of the campaign.</summary>
    private static async Task AssertCountsMatchDevicesAsync(RolloutCluster system, Fleet fleet, string campaignId, Campaign campaign)
    {
        var devices = await Task.WhenAll(fleet.DeviceIds.Select(id =>
            system.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = id }, system.AdminHeaders).ResponseAsync));
        var byStatus = devices.Where(d => d.CurrentOffer is not null).GroupBy(d => d.CurrentOffer.Status).ToDictionary(g => g.Key, g => (ulong)g.Count());
        Assert.Equal(byStatus.GetValueOrDefault(OfferStatus.Succeeded), campaign.Counts.Succeeded);
        Assert.Equal(byStatus.GetValueOrDefault(OfferStatus.Failed), campaign.Counts.Failed);
        Assert.Equal(byStatus.GetValueOrDefault(OfferStatus.RolledBack), campaign.Counts.RolledBack);
        Assert.Equal((ulong)devices.Count(d => d.CurrentOffer is not null), campaign.Counts.Offered);
        Assert.All(devices, d => Assert.True(d.History.Count(h => h.CampaignId == campaignId) == 0, $"{d.DeviceId} held two offers"));
    }

    [Fact]
    public async Task SiloLoss_MidStage_LosesNothingAcknowledged_CountsMatch_AndTheCampaignCompletes()
    {
        var (system, data) = await StartAsync(silos: 3);
        await using var _ = system;
        var package = await Scenario.UploadAsync(system, Scenario.Full("FLT-S", "F2.0"), Scenario.RandomBytes(2048, seed: 31));
        await StartCampaignAsync(system, "flt-s", Staged("FLT-S", package.PackageId, 5, 50, 100));
        var fleet = await Fleet.CreateAsync(system, "flt-s", 1000, "F1.0", i => new AgentBehavior { Model = "FLT-S", FailInstall = i % 50 == 7 });
        Task? kill = null;
        var victim = system.Cluster.Silos[2];

        var (campaign, rounds) = await RunToCompletionAsync(system, fleet, "flt-s", round => round != 1 ? null : done =>
        {
            // Mid-stage: once a third of the fleet finished the round, a silo dies without warning.
            if (done == 330)
            {
                kill = system.Cluster.KillSiloAsync(victim);
            }
        });
        await kill!;

        output.WriteLine($"rounds={rounds.Count} counts={campaign.Counts} silos alive={system.Cluster.Silos.Count}");
        Assert.Equal(CampaignState.Completed, campaign.State);
        await AssertCountsMatchDevicesAsync(system, fleet, "flt-s", campaign);

        // Every outcome a device was told was stored is what the server holds now.
        var finals = rounds.SelectMany(r => r).Where(r => r.Value.OfferId is not null).GroupBy(r => r.Key).ToDictionary(g => g.Key, g => g.Last().Value);
        var devices = await Task.WhenAll(finals.Keys.Select(id => system.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = id }, system.AdminHeaders).ResponseAsync));
        Assert.All(devices, d => Assert.Equal(ExpectedStatus(finals[d.DeviceId].Outcome), d.CurrentOffer.Status));
        TestPaths.TryDelete(data);
    }

    private static OfferStatus ExpectedStatus(AgentOutcome outcome) => outcome switch
    {
        AgentOutcome.Succeeded => OfferStatus.Succeeded,
        AgentOutcome.RolledBack => OfferStatus.RolledBack,
        _ => OfferStatus.Failed,
    };

    [Fact]
    public async Task DatabaseOutage_CallsFailUnavailable_NothingAcknowledgedIsLost_ServiceResumesByItself()
    {
        var (system, data) = await StartAsync(silos: 2);
        await using var _ = system;
        var package = await Scenario.UploadAsync(system, Scenario.Full("FLT-D", "F2.0"), Scenario.RandomBytes(2048, seed: 32));
        await StartCampaignAsync(system, "flt-d", Staged("FLT-D", package.PackageId, 100));
        var fleet = await Fleet.CreateAsync(system, "flt-d", 300, "F1.0", _ => new AgentBehavior { Model = "FLT-D" });
        var tokens = await Scenario.RegisterAsync(system, "flt-d-probe");

        // While the database is down a direct call answers Unavailable (retryable), never Internal.
        await postgres.Server.StopAsync();
        NpgsqlConnection.ClearAllPools();
        var down = await RpcAssert.FailsAsync(StatusCode.Unavailable,
            () => Scenario.CheckInAsync(system, "flt-d-probe", tokens["flt-d-probe"], Scenario.Facts("FLT-D", "F1.0")));
        output.WriteLine($"during the outage: {down.StatusCode}: {down.Status.Detail}");
        await postgres.Server.StartAgainAsync();

        Task? outage = null;
        var (campaign, _) = await RunToCompletionAsync(system, fleet, "flt-d", round => round != 0 ? null : done =>
        {
            if (done == 100)
            {
                // Mid-campaign the database goes away for a few seconds; agents retry through it.
                outage = Task.Run(async () =>
                {
                    await postgres.Server.StopAsync();
                    await Task.Delay(TimeSpan.FromSeconds(3));
                    await postgres.Server.StartAgainAsync();
                });
            }
        });
        await outage!;

        Assert.Equal(300UL, campaign.Counts.Succeeded);
        await AssertCountsMatchDevicesAsync(system, fleet, "flt-d", campaign);
        TestPaths.TryDelete(data);
    }

    [Fact]
    public async Task GatewayLoss_AgentsFailOverToTheOtherGateway_AndFinish()
    {
        var (system, data) = await StartAsync(silos: 2, gateways: 2);
        await using var _ = system;
        var package = await Scenario.UploadAsync(system, Scenario.Full("FLT-G", "F2.0"), Scenario.RandomBytes(2048, seed: 33));
        await StartCampaignAsync(system, "flt-g", Staged("FLT-G", package.PackageId, 100));
        var fleet = await Fleet.CreateAsync(system, "flt-g", 300, "F1.0", _ => new AgentBehavior { Model = "FLT-G" });
        using var both = BalancedChannel(system.GatewayAddresses);
        Task? kill = null;

        var (campaign, rounds) = await RunToCompletionAsync(system, fleet, "flt-g",
            faultInRound: round => round != 0 ? null : done =>
            {
                if (done == 100)
                {
                    // The agents' gateway pair loses one; admin calls of the test go to the other (the first).
                    kill = system.KillGatewayAsync(1);
                }
            },
            channelInRound: _ => both);
        await kill!;

        Assert.Equal(300UL, campaign.Counts.Succeeded);
        Assert.All(rounds[0].Values, r => Assert.Equal(AgentOutcome.Succeeded, r.Outcome));
        var dead = new DeviceUpdate.DeviceUpdateClient(GrpcChannel.ForAddress(system.GatewayAddresses[1]));
        await RpcAssert.FailsAsync(StatusCode.Unavailable, () => dead.CheckInAsync(new CheckInRequest()).ResponseAsync);
        TestPaths.TryDelete(data);
    }

    /// <summary>One channel over several gateways (round robin); a dead gateway's calls fail over to the others.</summary>
    private static GrpcChannel BalancedChannel(IReadOnlyList<string> addresses)
    {
        var endpoints = addresses.Select(a => new Uri(a)).Select(u => new BalancerAddress(u.Host, u.Port)).ToArray();
        var services = new ServiceCollection();
        services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => endpoints));
        return GrpcChannel.ForAddress("static:///gateways", new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
            ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } },
            ServiceProvider = services.BuildServiceProvider(),
        });
    }

    [Fact]
    public async Task Duplicates_TheSameReportThroughTwoGateways_IsCountedOnce()
    {
        var (system, data) = await StartAsync(silos: 2, gateways: 2);
        await using var _ = system;
        var package = await Scenario.UploadAsync(system, Scenario.Full("FLT-U", "F2.0"), Scenario.RandomBytes(1024, seed: 34));
        await StartCampaignAsync(system, "flt-u", Staged("FLT-U", package.PackageId, 100));
        var tokens = await Scenario.RegisterAsync(system, "flt-u-1");
        var offer = (await Scenario.CheckInAsync(system, "flt-u-1", tokens["flt-u-1"], Scenario.Facts("FLT-U", "F1.0"))).Offer;
        await Scenario.ReportAsync(system, "flt-u-1", tokens["flt-u-1"], offer.OfferId, InstallStep.Installed);
        var report = new ReportRequest { DeviceId = "flt-u-1", OfferId = offer.OfferId, ReportId = "dup-1", Step = InstallStep.Succeeded, RunningVersion = "F2.0", ActiveSlot = Slot.B };
        var clients = system.GatewayAddresses.Select(a => new DeviceUpdate.DeviceUpdateClient(GrpcChannel.ForAddress(a))).ToArray();

        var answers = await Task.WhenAll(clients.Select(c => c.ReportAsync(report, EmbeddedNodeHost.Bearer(tokens["flt-u-1"])).ResponseAsync));

        Assert.Equal(new[] { false, true }, answers.Select(a => a.Duplicate).Order().ToArray());
        var campaign = await system.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "flt-u" }, system.AdminHeaders);
        Assert.Equal((1UL, 1UL), (campaign.Counts.Offered, campaign.Counts.Succeeded));
        TestPaths.TryDelete(data);
    }

    [Fact]
    public async Task HaltAcrossSilos_NoSiloOffersAfterTheAck_AndASiloThatMissedThePushStopsByItsNextPoll()
    {
        var faults = new GrainCallFaults();
        var (system, data) = await StartAsync(silos: 3, faults: faults);
        await using var _ = system;

        // Pushed: once the halt is acknowledged, no silo makes a new offer.
        await RunningCampaignAsync(system, "flt-h", seed: 35);
        var offeredBefore = await CheckInEachAsync(system, "flt-h-a", "FLT-H", 45);
        await system.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = "flt-h", Reason = "spike" }, system.AdminHeaders);
        var offeredAfterAck = await CheckInEachAsync(system, "flt-h-b", "FLT-H", 45);

        // Not pushed: every push of the halt is lost; each silo stops offering by its next poll (every second; the
        // bound is generous because it runs on real time, and the 1 s figure itself is the halt benchmark's).
        await RunningCampaignAsync(system, "flt-p", seed: 36);
        var offeredBeforeLostPush = await CheckInEachAsync(system, "flt-p-a", "FLT-P", 45);
        var lostPushes = faults.Fail<ISnapshotObserver>(nameof(ISnapshotObserver.OnSnapshotAsync), times: int.MaxValue, outgoing: true);
        await system.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = "flt-p", Reason = "spike" }, system.AdminHeaders);
        var polled = Stopwatch.StartNew();
        while (polled.Elapsed < TimeSpan.FromSeconds(5) && !EverySiloHolds(system, "flt-p", exposure: 0))
        {
            await Task.Delay(50);
        }

        var caughtUp = EverySiloHolds(system, "flt-p", exposure: 0);
        var offeredAfterPoll = await CheckInEachAsync(system, "flt-p-b", "FLT-P", 45);

        Assert.Equal((45, 3), offeredBefore);
        Assert.Equal((0, 3), offeredAfterAck);
        Assert.Equal((45, 3), offeredBeforeLostPush);
        Assert.True(lostPushes.Caught >= 3, $"expected the halt's push to every silo to be lost, {lostPushes.Caught} were");
        Assert.True(caughtUp, "a silo that missed the push still let the halted campaign offer after 5 s");
        Assert.Equal((0, 3), offeredAfterPoll);
        output.WriteLine($"halt without pushes: every silo held it {polled.ElapsedMilliseconds} ms after the ack (poll interval 1 s)");
        TestPaths.TryDelete(data);
    }

    /// <summary>A running one-stage campaign offering F2.0 to every device of the model named by its id.</summary>
    private static async Task RunningCampaignAsync(RolloutCluster system, string id, int seed)
    {
        var model = id.ToUpperInvariant();
        var package = await Scenario.UploadAsync(system, Scenario.Full(model, "F2.0"), Scenario.RandomBytes(1024, seed));
        await StartCampaignAsync(system, id, Staged(model, package.PackageId, 100));
    }

    /// <summary>New devices check in once each over gRPC; how many got an offer, and on how many silos they ran.</summary>
    private static async Task<(int Offers, int Silos)> CheckInEachAsync(RolloutCluster system, string prefix, string model, int count)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"{prefix}-{i}").ToArray();
        var tokens = await Scenario.RegisterAsync(system, ids);
        var answers = await Task.WhenAll(ids.Select(id => Scenario.CheckInAsync(system, id, tokens[id], Scenario.Facts(model, "F1.0"))));
        var stats = await system.Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var silos = stats.Where(s => s.GrainId.ToString().Contains($"device/{prefix}-", StringComparison.Ordinal)).Select(s => s.SiloAddress).Distinct().Count();
        return (answers.Count(a => a.DecisionCase == CheckInResponse.DecisionOneofCase.Offer), silos);
    }

    private static bool EverySiloHolds(RolloutCluster system, string campaignId, double exposure) =>
        system.Cluster.Silos.All(s => s.SiloHost.Services.GetRequiredService<SnapshotCache>().Current?.Find(campaignId)?.ExposurePercent == exposure);

    [Fact]
    public async Task FullRestart_OnPostgres_ContinuesStageCountsTimersHaltsAndAudit()
    {
        var database = new RolloutDatabase(DatabaseKind.PostgreSql, await postgres.NewDatabaseAsync());
        await ClusterRestartTests.RunAsync(database, async _ =>
        {
            await using var connection = new NpgsqlConnection(database.ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM OrleansRemindersTable WHERE GrainId LIKE '%campaign/rs-a%'", connection);
            return (long)(await command.ExecuteScalarAsync())!;
        });
    }

    [Fact]
    public async Task RegistryRows_ThousandsOfDevicesAtOnce_UnderPoolContention_AreAllStored()
    {
        // Every device writes its registry row with its own state, through the group commit; thousands at once while
        // other clients contend for the database must all be stored (a restart's dry run finds every one).
        var data = TestPaths.NewTempDirectory("fault");
        var database = new RolloutDatabase(DatabaseKind.PostgreSql, await postgres.NewDatabaseAsync());
        var facts = new ZteRollout.Shared.Devices.DeviceFacts("RACE", "H1", "EU", "C1", "R1.0", ZteRollout.Shared.Devices.BootSlot.A, 90, 1L << 30, "t");
        var ids = Enumerable.Range(0, 3000).Select(i => $"race-{i:D4}").ToList();
        await using (var first = await RolloutCluster.StartAsync(data, _clock, silos: 1, database))
        {
            using var stop = new CancellationTokenSource();
            var contention = Enumerable.Range(0, 40).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await using var connection = new NpgsqlConnection(database.ConnectionString);
                    await connection.OpenAsync();
                    await using var command = new NpgsqlCommand("SELECT pg_sleep(0.002)", connection);
                    await command.ExecuteNonQueryAsync();
                }
            })).ToList();
            try
            {
                await Task.WhenAll(ids.Select(async id =>
                {
                    var device = first.Grains.Device(id);
                    await device.RegisterAsync(ZteRollout.Shared.Devices.DeviceIdentity.HashSecret("s-" + id), [], rotate: false);
                    await device.CheckInAsync(facts);
                }));
            }
            finally
            {
                await stop.CancelAsync();
                await Task.WhenAll(contention);
            }
        }

        await using var second = await RolloutCluster.StartAsync(data, _clock, silos: 1, database);
        var query = new DryRunQuery(
            ZteRollout.Shared.Campaigns.Eligibility.Everyone,
            System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("RACE", "R2.0"),
            Rollback: false,
            Salt: "s",
            StagePercents: [100]);
        var stored = await second.Grains.GetGrain<IDeviceRegistryGrain>(0).DryRunAsync(query);
        Assert.Equal(ids.Count, stored.Eligible);
        Assert.Equal(ids.Count, stored.PerStage[0]);
        TestPaths.TryDelete(data);
    }
}
