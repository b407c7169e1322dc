using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;

namespace ZteRollout.Benchmarks;

/// <summary>What a bare upsert loop wrote: rows committed, the time it took, and the settings it ran with.</summary>
internal sealed record UpsertLoopResult(long Rows, TimeSpan Elapsed, string Settings)
{
    public double RowsPerSecond => Rows / Elapsed.TotalSeconds;
}

/// <summary>
/// The storage baseline of <c>durable</c>: the best a bare program does on the same database, with nothing but
/// upserts of device-sized rows (key TEXT primary key, version INTEGER, a 600-byte payload), 1,000 rows per
/// transaction, every commit durable (SQLite: WAL, synchronous=FULL; PostgreSQL: fsync and synchronous_commit on,
/// the server defaults). The table is filled with one row per key first, untimed, so the timed loop updates rows
/// that exist, as a device write does.
/// </summary>
internal static class BareUpsertLoop
{
    public const int PayloadBytes = 600;
    public const int RowsPerTransaction = 1000;

    /// <summary>One writer (SQLite has one), on its own connection to the file at <paramref name="path"/>.</summary>
    public static Task<UpsertLoopResult> RunSqliteAsync(string path, int keys, TimeSpan duration) =>
        Task.Factory.StartNew(() => RunSqlite(path, keys, duration), TaskCreationOptions.LongRunning);

    /// <summary>
    /// <paramref name="writers"/> connections at once (PostgreSQL commits them in parallel), each on its own share of
    /// the keys; one multi-row upsert statement per 1,000-row transaction.
    /// </summary>
    public static async Task<UpsertLoopResult> RunPostgresAsync(string connectionString, string table, int keys, TimeSpan duration, int writers)
    {
        await using var setup = new NpgsqlConnection(connectionString);
        await setup.OpenAsync();
        await ExecuteAsync(setup, $"CREATE TABLE {table} (key text PRIMARY KEY, version bigint NOT NULL, payload bytea NOT NULL)");
        try
        {
            for (var first = 0; first < keys; first += RowsPerTransaction)
            {
                await UpsertPostgresAsync(setup, table, [.. Enumerable.Range(first, Math.Min(RowsPerTransaction, keys - first))], version: 0);
            }

            // One statement may not upsert a key twice, so each writer needs a full transaction's worth of keys of its own.
            writers = Math.Clamp(keys / RowsPerTransaction, 1, writers);
            long rows = 0;
            var start = Stopwatch.GetTimestamp();
            var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            await Task.WhenAll(Enumerable.Range(0, writers).Select(async writer =>
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync();
                var mine = Enumerable.Range(0, keys).Where(k => k % writers == writer).ToArray();
                var next = 0;
                for (var version = 1L; Stopwatch.GetTimestamp() < end; version++)
                {
                    var batch = new int[Math.Min(RowsPerTransaction, mine.Length)];
                    for (var i = 0; i < batch.Length; i++)
                    {
                        batch[i] = mine[next++ % mine.Length];
                    }

                    await UpsertPostgresAsync(connection, table, batch, version);
                    Interlocked.Add(ref rows, batch.Length);
                }
            }));
            var elapsed = Stopwatch.GetElapsedTime(start);

            await using var settings = new NpgsqlCommand("SELECT current_setting('fsync') || '/' || current_setting('synchronous_commit')", setup);
            var fsyncAndCommit = (string?)await settings.ExecuteScalarAsync();
            return new UpsertLoopResult(rows, elapsed, $"postgresql writers={writers} fsync/synchronous_commit={fsyncAndCommit}");
        }
        finally
        {
            await ExecuteAsync(setup, $"DROP TABLE {table}");
        }
    }

    private static UpsertLoopResult RunSqlite(string path, int keys, TimeSpan duration)
    {
        // The node's own connection string shape (RolloutDatabase.SqliteFile); the pragmas are the node's file settings.
        using var connection = new SqliteConnection($"Data Source={path};Default Timeout=30;Pooling=False");
        connection.Open();
        Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
        Execute(connection, "CREATE TABLE bare_device (key TEXT PRIMARY KEY, version INTEGER NOT NULL, payload BLOB NOT NULL)");

        using var upsert = connection.CreateCommand();
        upsert.CommandText = "INSERT INTO bare_device (key, version, payload) VALUES ($key, $version, $payload) " +
            "ON CONFLICT (key) DO UPDATE SET version = excluded.version, payload = excluded.payload";
        var key = upsert.Parameters.Add("$key", SqliteType.Text);
        var version = upsert.Parameters.Add("$version", SqliteType.Integer);
        upsert.Parameters.AddWithValue("$payload", Payload());
        var names = Enumerable.Range(0, keys).Select(KeyOf).ToArray();

        // Row n of the loop writes key n mod keys at version n / keys: the first pass inserts, every later one updates.
        void CommitTransaction(long firstRow)
        {
            using var transaction = connection.BeginTransaction();
            upsert.Transaction = transaction;
            for (var n = firstRow; n < firstRow + RowsPerTransaction; n++)
            {
                key.Value = names[n % keys];
                version.Value = n / keys;
                upsert.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        long rows = 0;
        while (rows < keys)
        {
            CommitTransaction(rows);
            rows += RowsPerTransaction;
        }

        var filled = rows;
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end)
        {
            CommitTransaction(rows);
            rows += RowsPerTransaction;
        }

        var elapsed = Stopwatch.GetElapsedTime(start);
        var settings = $"sqlite journal_mode={Scalar(connection, "PRAGMA journal_mode")} synchronous={Scalar(connection, "PRAGMA synchronous")} (2 = FULL)";
        return new UpsertLoopResult(rows - filled, elapsed, settings);
    }

    private static async Task UpsertPostgresAsync(NpgsqlConnection connection, string table, int[] keys, long version)
    {
        // One statement is one transaction: a single commit for the whole batch.
        await using var command = new NpgsqlCommand(
            $"INSERT INTO {table} (key, version, payload) SELECT * FROM unnest(@keys, @versions, @payloads) " +
            "ON CONFLICT (key) DO UPDATE SET version = excluded.version, payload = excluded.payload", connection);
        var payload = Payload();
        command.Parameters.Add(new NpgsqlParameter<string[]>("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. keys.Select(KeyOf)] });
        command.Parameters.Add(new NpgsqlParameter<long[]>("versions", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. keys.Select(_ => version)] });
        command.Parameters.Add(new NpgsqlParameter<byte[][]>("payloads", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { TypedValue = [.. keys.Select(_ => payload)] });
        await command.ExecuteNonQueryAsync();
    }

    private static string KeyOf(int n) => $"device-{n:D7}";

    private static byte[] Payload()
    {
        var payload = new byte[PayloadBytes];
        Random.Shared.NextBytes(payload);
        return payload;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
