using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Device.V1;
using ZteRollout.Shared.Grains;
using ZteRollout.Silo.Hosting;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Campaigns;

/// <summary>Stop the whole cluster mid-campaign and start it again on the same storage.</summary>
public sealed class ClusterRestartTests
{
    /// <summary>A device whose bucket is in the first stage (10 %) of campaign "rs-a", so it is offered an update.</summary>
    private static readonly string Silent = Enumerable.Range(0, 1000).Select(k => $"rs-silent-{k}")
        .First(id => ZteRollout.Shared.Campaigns.Bucketing.BucketOf("rs-a", id) < 1000);

    [Fact]
    public Task Cluster_RestartedMidCampaign_ContinuesStageCountsTimersHaltsAndAudit() =>
        RunAsync(database: null, data => Task.FromResult(SqliteReminderRows(data, "campaign/rs-a")));

    /// <summary>
    /// The restart scenario on any storage: a staged campaign in its second stage with a silent device's offer open,
    /// and a halted campaign; every silo and the gateway stop; a new cluster on the same storage continues them.
    /// </summary>
    internal static async Task RunAsync(RolloutDatabase? database, Func<string, Task<long>> tickReminderRows)
    {
        var data = TestPaths.NewTempDirectory("cluster-restart");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 4, 6, 0, 0, TimeSpan.Zero));
        var stages = new CampaignPlan
        {
            Name = "restart",
            Targets = { new CampaignTarget { Model = "RS", PackageId = "" } },
            InProgressTimeoutSeconds = 1800,
            Stages =
            {
                new Stage { Percent = 10, MinSoakSeconds = 600, GateMinCompleted = 1, GateMinSuccessRate = 0.5 },
                new Stage { Percent = 50, MinSoakSeconds = 600, GateMinCompleted = 1, GateMinSuccessRate = 0.5 },
                new Stage { Percent = 100, MinSoakSeconds = 600, GateMinCompleted = 1, GateMinSuccessRate = 0.5 },
            },
        };
        Campaign before, haltedBefore;
        var hangingOffer = string.Empty;
        try
        {
            await using (var system = await RolloutCluster.StartAsync(data, clock, database: database))
            {
                var package = await Scenario.UploadAsync(system, Scenario.Full("RS", "S2.0"), Scenario.RandomBytes(1024, seed: 21));
                stages.Targets[0].PackageId = package.PackageId;
                await system.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = "rs-a", Plan = stages }, system.AdminHeaders);
                await system.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = "rs-a" }, system.AdminHeaders);
                var fleet = await Fleet.CreateAsync(system, "rs", 200, "S1.0", _ => new AgentBehavior { Model = "RS" });
                await fleet.RoundAsync();
                clock.Advance(TimeSpan.FromMinutes(11));
                await system.Grains.Campaign("rs-a").TickAsync();
                await fleet.RoundAsync();

                // One device takes an offer and goes silent: only the durable timer can time it out.
                var tokens = await Scenario.RegisterAsync(system, Silent);
                hangingOffer = (await Scenario.CheckInAsync(system, Silent, tokens[Silent], Scenario.Facts("RS", "S1.0"))).Offer.OfferId;

                var other = await Scenario.UploadAsync(system, Scenario.Full("RS-H", "H2.0"), Scenario.RandomBytes(512, seed: 22));
                await Scenario.StartCampaignAsync(system, "rs-h", "RS-H", other.PackageId);
                haltedBefore = await system.Admin.HaltCampaignAsync(new CampaignRequest { CampaignId = "rs-h", Reason = "bad smell" }, system.AdminHeaders);
                before = await system.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "rs-a" }, system.AdminHeaders);
            }

            Assert.Equal(1, await tickReminderRows(data));

            await using (var again = await RolloutCluster.StartAsync(data, clock, database: database))
            {
                var after = await again.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "rs-a" }, again.AdminHeaders);
                var halted = await again.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "rs-h" }, again.AdminHeaders);

                Assert.Equal((CampaignState.Running, 1U), (after.State, after.CurrentStage));
                Assert.Equal(before.Counts, after.Counts);
                Assert.Equal(before.Audit, after.Audit);
                Assert.Equal((CampaignState.Halted, "bad smell"), (halted.State, halted.Halt.Reason));
                Assert.Equal(haltedBefore.Audit, halted.Audit);

                // Timers continue: the silent device's offer times out, and the soak of stage 2 ends.
                clock.Advance(TimeSpan.FromMinutes(31));
                await again.Grains.Campaign("rs-a").TickAsync();
                var later = await again.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "rs-a" }, again.AdminHeaders);
                Assert.Equal(2U, later.CurrentStage);
                Assert.Equal(before.Counts.TimedOut + 1, later.Counts.TimedOut);
                var silent = await again.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = Silent }, again.AdminHeaders);
                Assert.Equal((hangingOffer, OfferStatus.TimedOut), (silent.CurrentOffer.OfferId, silent.CurrentOffer.Status));
            }
        }
        finally
        {
            TestPaths.TryDelete(data);
        }
    }

    /// <summary>Rows of a grain's reminders in the SQLite file (the durable timer itself, not a cache of it).</summary>
    private static long SqliteReminderRows(string data, string grainKeyPart)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "cluster.db")}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM OrleansRemindersTable WHERE GrainId LIKE $pattern";
        command.Parameters.AddWithValue("$pattern", "%" + grainKeyPart + "%");
        return (long)command.ExecuteScalar()!;
    }
}
