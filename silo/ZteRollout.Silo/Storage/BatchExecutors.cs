using System.Data;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace ZteRollout.Silo.Storage;

/// <summary>Runs one group commit: every write of the batch in one transaction.</summary>
internal interface IBatchExecutor : IAsyncDisposable
{
    /// <summary>
    /// Applies the batch in one transaction and commits it. Sets each write's <see cref="PendingWrite.NewVersion"/> or
    /// <see cref="PendingWrite.Conflict"/> (a conflicting write's rows are not applied; its batch mates are).
    /// Throws when the transaction fails: then nothing of the batch is stored.
    /// </summary>
    Task ExecuteAsync(IReadOnlyList<PendingWrite> batch, CancellationToken cancellationToken);
}

/// <summary>
/// SQLite: one connection (SQLite has one writer, so one connection is all the write concurrency there is, and no
/// batch ever waits on another's lock), prepared statements reused across batches, <c>synchronous=FULL</c> so each
/// commit is on disk before any of its writes is acknowledged.
/// </summary>
internal sealed class SqliteBatchExecutor(string connectionString) : IBatchExecutor
{
    private SqliteConnection? _connection;
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    public Task ExecuteAsync(IReadOnlyList<PendingWrite> batch, CancellationToken cancellationToken)
    {
        try
        {
            Execute(batch);
        }
        catch
        {
            // A failed transaction may leave the connection in any state: start the next batch on a fresh one.
            Reset();
            throw;
        }

        return Task.CompletedTask;
    }

    private void Execute(IReadOnlyList<PendingWrite> batch)
    {
        var connection = Open();
        using var transaction = connection.BeginTransaction(deferred: false);
        foreach (var write in batch)
        {
            if (write.Key is not null)
            {
                var command = Command(connection, RowBinding.StateStatementOf(write));
                command.Transaction = transaction;
                RowBinding.BindState(write, (name, value) => command.Parameters[name].Value = value ?? DBNull.Value);
                write.Conflict = command.ExecuteNonQuery() != 1;
                write.NewVersion = write.Payload is null ? 0 : (write.ExpectedVersion ?? 0) + 1;
                if (write.Conflict)
                {
                    continue;
                }
            }

            foreach (var row in write.Rows)
            {
                var command = Command(connection, RowBinding.StatementOf(row));
                command.Transaction = transaction;
                RowBinding.Bind(row, (name, value) => command.Parameters[name].Value = value ?? DBNull.Value);
                command.ExecuteNonQuery();
            }
        }

        transaction.Commit();
    }

    private SqliteConnection Open()
    {
        if (_connection is not null)
        {
            return _connection;
        }

        var connection = new SqliteConnection(connectionString);
        connection.Open();
        using (var pragma = connection.CreateCommand())
        {
            // Durable before acknowledged: FULL syncs the WAL at every commit (one fsync per batch, not per write).
            pragma.CommandText = "PRAGMA synchronous=FULL;";
            pragma.ExecuteNonQuery();
        }

        return _connection = connection;
    }

    private SqliteCommand Command(SqliteConnection connection, string statement)
    {
        if (!_commands.TryGetValue(statement, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = statement;
            foreach (var name in RowBinding.ParametersOf(statement))
            {
                command.Parameters.Add(new SqliteParameter(name, null));
            }

            _commands[statement] = command;
        }

        return command;
    }

    private void Reset()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
        _connection?.Dispose();
        _connection = null;
    }

    public ValueTask DisposeAsync()
    {
        Reset();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// PostgreSQL: each batch is two round trips in one transaction — the grains' state statements as one
/// <see cref="NpgsqlBatch"/> (each statement reports whether it applied), then the rows of the writes that applied.
/// Several executors may run at once, each on its own connection; PostgreSQL's row locks keep ETags per grain.
/// </summary>
internal sealed class PostgresBatchExecutor(string connectionString) : IBatchExecutor
{
    private NpgsqlConnection? _connection;

    public async Task ExecuteAsync(IReadOnlyList<PendingWrite> batch, CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteCoreAsync(batch, cancellationToken);
        }
        catch
        {
            if (_connection is not null)
            {
                await _connection.DisposeAsync();
                _connection = null;
            }

            throw;
        }
    }

    private async Task ExecuteCoreAsync(IReadOnlyList<PendingWrite> batch, CancellationToken cancellationToken)
    {
        if (_connection is null)
        {
            var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            _connection = connection;
        }

        await using var transaction = await _connection.BeginTransactionAsync(cancellationToken);

        // Grains in key order, so two writers that touch the same rows lock them in the same order.
        var states = batch.Where(w => w.Key is not null).OrderBy(w => w.Key, StringComparer.Ordinal).ToList();
        if (states.Count > 0)
        {
            await using var stateBatch = new NpgsqlBatch(_connection, transaction);
            foreach (var write in states)
            {
                var command = new NpgsqlBatchCommand(RowBinding.StateStatementOf(write));
                RowBinding.BindState(write, (name, value) => command.Parameters.Add(Parameter(name, value)));
                stateBatch.BatchCommands.Add(command);
            }

            await stateBatch.ExecuteNonQueryAsync(cancellationToken);
            for (var i = 0; i < states.Count; i++)
            {
                var write = states[i];
                write.Conflict = stateBatch.BatchCommands[i].RecordsAffected != 1;
                write.NewVersion = write.Payload is null ? 0 : (write.ExpectedVersion ?? 0) + 1;
            }
        }

        // Rows in one global order, table then key (stable, so one device's upsert stays before its last-seen touch):
        // in batch order, two writers holding the same devices' rows in opposite orders deadlocked (40P01).
        var rows = batch.Where(w => !w.Conflict).SelectMany(w => w.Rows)
            .OrderBy(RowBinding.LockOrderTable).ThenBy(RowBinding.LockOrderKey, StringComparer.Ordinal).ToList();
        if (rows.Count > 0)
        {
            await using var rowBatch = new NpgsqlBatch(_connection, transaction);
            foreach (var row in rows)
            {
                var command = new NpgsqlBatchCommand(RowBinding.StatementOf(row));
                RowBinding.Bind(row, (name, value) => command.Parameters.Add(Parameter(name, value)));
                rowBatch.BatchCommands.Add(command);
            }

            await rowBatch.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static NpgsqlParameter Parameter(string name, object? value) => value switch
    {
        // A null has no type of its own; every nullable column here is text or bigint.
        null when name is "deadline" or "t" => new NpgsqlParameter(name, DbType.Int64) { Value = DBNull.Value },
        null => new NpgsqlParameter(name, DbType.String) { Value = DBNull.Value },
        _ => new NpgsqlParameter(name, value),
    };

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }
}
