using Npgsql;
using ZteRollout.Silo.Storage;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Storage;

/// <summary>
/// Two PostgreSQL group-commit writers whose batches hold the same registry rows in opposite orders (a device's
/// last-seen refresh rides in whichever batch comes next, not in its own grain's) must not deadlock. Rows were written
/// in batch order, so writer A locked d0…d199 while writer B locked d199…d0, and PostgreSQL aborted one with 40P01
/// "deadlock detected" — seen once as a failed durable write in CI (FaultTests.RegistryRows_…). Rows are now written
/// in one global order (table, then key), which no two transactions can cross.
/// </summary>
public sealed class PostgresLockOrderTests
{
    private const int Devices = 200;
    private const int Rounds = 15;

    [Fact]
    public async Task Writers_WithTheSameRowsInOppositeOrders_NeverDeadlock()
    {
        await using var server = await PostgresServer.StartAsync();
        var database = await server.CreateDatabaseAsync("lock_order");
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await DatabaseSchema.EnsureAsync(connection, DatabaseKind.PostgreSql, CancellationToken.None);
        }

        var ids = Enumerable.Range(0, Devices).Select(i => $"lock-{i:D3}").ToArray();
        await using var first = new PostgresBatchExecutor(database);
        await using var second = new PostgresBatchExecutor(database);
        await first.ExecuteAsync([PendingWrite.RowsOnly([.. ids.Select(id => new DeviceRowChange(id, [], null))])], CancellationToken.None);

        var deadlocks = 0;
        for (var round = 1; round <= Rounds; round++)
        {
            var seenAt = DateTimeOffset.UnixEpoch.AddMinutes(round);
            var ascending = PendingWrite.RowsOnly([.. ids.Select(id => new LastSeenChange(id, seenAt))]);
            var descending = PendingWrite.RowsOnly([.. ids.Reverse().Select(id => new LastSeenChange(id, seenAt.AddSeconds(1)))]);
            var results = await Task.WhenAll(
                Task.Run(() => CountDeadlockAsync(first, ascending)),
                Task.Run(() => CountDeadlockAsync(second, descending)));
            deadlocks += results.Sum();
        }

        Assert.Equal(0, deadlocks);
        await using var check = new NpgsqlConnection(database);
        await check.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM ZteDevice WHERE LastSeenAt = @t", check);
        command.Parameters.AddWithValue("t", DateTimeOffset.UnixEpoch.AddMinutes(Rounds).AddSeconds(1).ToUnixTimeMilliseconds());
        Assert.Equal((long)Devices, (long)(await command.ExecuteScalarAsync())!);
    }

    private static async Task<int> CountDeadlockAsync(PostgresBatchExecutor executor, PendingWrite write)
    {
        try
        {
            await executor.ExecuteAsync([write], CancellationToken.None);
            return 0;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected)
        {
            return 1;
        }
    }
}
