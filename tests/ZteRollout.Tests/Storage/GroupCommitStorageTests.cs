using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using Orleans.Storage;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Silo.Devices;
using ZteRollout.Silo.Hosting;
using ZteRollout.Silo.Storage;
using ZteRollout.Tests.Faults;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Storage;

/// <summary>
/// The group-commit grain storage on real databases (a SQLite file and a throwaway PostgreSQL server): per-grain
/// ETags inside shared transactions, rows stored with the state or not at all, the ledger's newer-only rule, and a
/// database outage that fails a whole batch and heals when the database returns.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class GroupCommitStorageTests(PostgresFixture postgres)
{
    private static readonly Serializer Serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

    private static readonly DeviceFacts Facts = new("GC", "H1", "EU", "C1", "G1.0", BootSlot.A, 90, 1L << 30, "t");

    private async Task<RolloutDatabase> DatabaseAsync(DatabaseKind kind)
    {
        var database = kind == DatabaseKind.Sqlite
            ? RolloutDatabase.SqliteFile(Path.Combine(TestPaths.NewTempDirectory("gc"), "rollout.db"))
            : new RolloutDatabase(DatabaseKind.PostgreSql, await postgres.NewDatabaseAsync());
        await database.PrepareAsync(CancellationToken.None);
        return database;
    }

    private static GroupCommitWriter Writer(RolloutDatabase database) =>
        new(database, new GroupCommitOptions(), NullLogger<GroupCommitWriter>.Instance);

    private static GrainId Device(string id) => GrainId.Create("device", "device/" + id);

    private static GrainState<DeviceState> NewDevice(string id)
    {
        var state = new DeviceState { Registered = true, Tags = ["t1"] };
        state.AddRow(new DeviceRowChange(id, state.Tags, Facts));
        return new GrainState<DeviceState>(state);
    }

    private static OutcomeEvent Outcome(string device, long sequence, DeviceOutcome outcome) =>
        new("gc-campaign", device, sequence, outcome, null, new Cohort("GC", "H1", "EU", "C1", "G1.0"));

    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.PostgreSql)]
    public async Task StaleWrite_InABatch_FailsAlone_AndItsBatchMatesCommit(DatabaseKind kind)
    {
        var database = await DatabaseAsync(kind);
        await using var writer = Writer(database);
        var storage = new GroupCommitGrainStorage(writer, Serializer);
        var ids = Enumerable.Range(0, 200).Select(i => $"gc-{i:D3}").ToList();
        var states = ids.ToDictionary(id => id, NewDevice);
        await Task.WhenAll(ids.Select(id => storage.WriteStateAsync("device", Device(id), states[id])));

        // A second activation of gc-000 read version 1 and wrote; the first one, still holding version 1, is stale.
        var other = new GrainState<DeviceState>(new DeviceState());
        await storage.ReadStateAsync("device", Device("gc-000"), other);
        other.State!.CurrentVersion = "other";
        await storage.WriteStateAsync("device", Device("gc-000"), other);

        // All 200 go to the writer at once, so they share batches; only the stale one may fail.
        foreach (var id in ids)
        {
            states[id].State!.CurrentVersion = "mine";
            states[id].State!.AddRow(new LedgerRowChange(Outcome(id, 1, DeviceOutcome.Offered)));
        }

        var writes = ids.Select(id => storage.WriteStateAsync("device", Device(id), states[id])).ToList();
        var failure = await Record.ExceptionAsync(() => writes[0]);
        Assert.IsType<InconsistentStateException>(failure);
        await Task.WhenAll(writes.Skip(1));

        var (committedWrites, committedBatches) = writer.Committed;
        Assert.True(committedBatches < committedWrites, $"{committedWrites} writes in {committedBatches} transactions: no group commit");

        // What is stored: the other activation's state for gc-000 (and no ledger row of the refused write), ours for the rest.
        var stored = new GrainState<DeviceState>(new DeviceState());
        await storage.ReadStateAsync("device", Device("gc-000"), stored);
        Assert.Equal("other", stored.State!.CurrentVersion);
        await storage.ReadStateAsync("device", Device("gc-199"), stored);
        Assert.Equal("mine", stored.State!.CurrentVersion);
        var queries = new RowQueries(database);
        var ledger = new List<OutcomeEvent>();
        for (var shard = 0; shard < ZteRollout.Shared.Campaigns.StatsSharding.ShardCount; shard++)
        {
            ledger.AddRange(await queries.ReadShardLedgerAsync("gc-campaign", shard, CancellationToken.None));
        }

        Assert.Equal(ids.Skip(1).Order(StringComparer.Ordinal), ledger.Select(e => e.DeviceId).Order(StringComparer.Ordinal));
        Assert.Equal(ids.Count, await queries.CountDevicesAsync(CancellationToken.None));

        // The refused write's rows went back to its state, so a retry after re-reading would carry them again.
        Assert.Single(states["gc-000"].State!.TakeRows());
    }

    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.PostgreSql)]
    public async Task LedgerRow_IsReplacedOnlyByANewerSequence(DatabaseKind kind)
    {
        var database = await DatabaseAsync(kind);
        await using var writer = Writer(database);
        var storage = new GroupCommitGrainStorage(writer, Serializer);
        var device = NewDevice("gc-l");
        await storage.WriteStateAsync("device", Device("gc-l"), device);

        foreach (var (sequence, outcome) in new[] { (2L, DeviceOutcome.Succeeded), (1L, DeviceOutcome.Offered), (2L, DeviceOutcome.Failed) })
        {
            device.State!.AddRow(new LedgerRowChange(Outcome("gc-l", sequence, outcome)));
            await storage.WriteStateAsync("device", Device("gc-l"), device);
        }

        var shard = ZteRollout.Shared.Campaigns.StatsSharding.ShardOf("gc-l");
        var row = Assert.Single(await new RowQueries(database).ReadShardLedgerAsync("gc-campaign", shard, CancellationToken.None));
        Assert.Equal((2L, DeviceOutcome.Succeeded), (row.Sequence, row.Outcome));
    }

    [Fact]
    public async Task DatabaseOutage_FailsEveryWriteOfTheBatch_AndWritesSucceedWhenItReturns()
    {
        var database = await DatabaseAsync(DatabaseKind.PostgreSql);
        await using var writer = Writer(database);
        var storage = new GroupCommitGrainStorage(writer, Serializer);
        var ids = Enumerable.Range(0, 50).Select(i => $"gc-o-{i:D2}").ToList();
        var states = ids.ToDictionary(id => id, NewDevice);
        await Task.WhenAll(ids.Select(id => storage.WriteStateAsync("device", Device(id), states[id])));
        var versionsBefore = states.Values.Select(s => s.ETag).ToList();

        await postgres.Server.StopAsync();
        try
        {
            foreach (var id in ids)
            {
                states[id].State!.CurrentVersion = "during-outage";
            }

            var writes = ids.Select(id => storage.WriteStateAsync("device", Device(id), states[id])).ToList();
            foreach (var write in writes)
            {
                await Assert.ThrowsAnyAsync<Exception>(() => write);
            }

            // Nothing was acknowledged: every grain still holds the version it had.
            Assert.Equal(versionsBefore, states.Values.Select(s => s.ETag).ToList());
        }
        finally
        {
            await postgres.Server.StartAgainAsync();

            // Pooled connections died with the server; other tests of this collection should not meet them.
            Npgsql.NpgsqlConnection.ClearAllPools();
        }

        await Task.WhenAll(ids.Select(id => storage.WriteStateAsync("device", Device(id), states[id])));
        var stored = new GrainState<DeviceState>(new DeviceState());
        await storage.ReadStateAsync("device", Device("gc-o-07"), stored);
        Assert.Equal("during-outage", stored.State!.CurrentVersion);
    }
}
