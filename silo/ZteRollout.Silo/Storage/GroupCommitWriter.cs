using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using ZteRollout.Shared.Telemetry;
using ZteRollout.Silo.Hosting;

namespace ZteRollout.Silo.Storage;

/// <summary>Tuning of the group-commit storage; bound from <c>Rollout:Storage</c>.</summary>
public sealed class GroupCommitOptions
{
    public const string Section = "Rollout:Storage";

    /// <summary>Most writes in one transaction. A batch also closes as soon as no write is waiting (no idle delay).</summary>
    public int MaxBatch { get; set; } = 1000;

    /// <summary>Concurrent writer connections on PostgreSQL (SQLite always has one: it has one writer).</summary>
    public int PostgreSqlWriters { get; set; } = 4;
}

/// <summary>
/// Cross-grain group commit. Grains hand their serialized state (and the rows it carries) to a queue; a writer takes
/// everything waiting, up to <see cref="GroupCommitOptions.MaxBatch"/>, runs it as one transaction and completes each
/// write only after that transaction committed. While one batch commits the next one gathers, so under load a commit
/// (one fsync) carries hundreds of writes, and an idle write goes out at once.
/// ETags stay per grain: a stale write is refused alone (<see cref="InconsistentStateException"/>), its batch mates
/// commit. A failed transaction fails every write of its batch: none of them is acknowledged.
/// </summary>
public sealed class GroupCommitWriter : IAsyncDisposable
{
    private readonly Channel<PendingWrite> _queue = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleWriter = false });
    private readonly RolloutDatabase _database;
    private readonly GroupCommitOptions _options;
    private readonly ILogger _logger;
    private readonly Task[] _writers;
    private long _committedWrites;
    private long _committedBatches;

    public GroupCommitWriter(RolloutDatabase database, GroupCommitOptions options, ILogger<GroupCommitWriter> logger)
    {
        _database = database;
        _options = options;
        _logger = logger;
        var writers = database.Kind == DatabaseKind.Sqlite ? 1 : Math.Max(1, options.PostgreSqlWriters);
        _writers = [.. Enumerable.Range(0, writers).Select(_ => Task.Run(() => RunWriterAsync(NewExecutor())))];
    }

    /// <summary>Writes acknowledged so far, and the transactions they took (for benchmarks and logs).</summary>
    public (long Writes, long Batches) Committed => (Interlocked.Read(ref _committedWrites), Interlocked.Read(ref _committedBatches));

    /// <summary>Stores a grain's state with its rows; completes with the new version once committed.</summary>
    internal Task<int> WriteStateAsync(string key, int? expectedVersion, byte[] payload, IReadOnlyList<RowChange> rows) =>
        Enqueue(PendingWrite.State(key, expectedVersion, payload, rows));

    internal Task<int> DeleteStateAsync(string key, int expectedVersion) => Enqueue(PendingWrite.Delete(key, expectedVersion));

    /// <summary>Queues rows that no caller waits for (last-seen refreshes): they ride along with the next batch.</summary>
    public void Post(RowChange row) => _queue.Writer.TryWrite(PendingWrite.RowsOnly([row]));

    private Task<int> Enqueue(PendingWrite write)
    {
        if (!_queue.Writer.TryWrite(write))
        {
            throw new InvalidOperationException("The group-commit storage is stopped.");
        }

        return write.Done!.Task;
    }

    /// <summary>Reads a grain's stored state: its version and payload, or null when it has none.</summary>
    internal async Task<(int Version, byte[] Payload)?> ReadStateAsync(string key)
    {
        await using var connection = await _database.OpenConnectionAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = RowStatements.ReadState;
        var parameter = command.CreateParameter();
        parameter.ParameterName = "k";
        parameter.Value = key;
        command.Parameters.Add(parameter);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return null;
        }

        return (reader.GetInt32(0), (byte[])reader.GetValue(1));
    }

    private IBatchExecutor NewExecutor() => _database.Kind == DatabaseKind.Sqlite
        ? new SqliteBatchExecutor(_database.ConnectionString)
        : new PostgresBatchExecutor(_database.ConnectionString);

    private async Task RunWriterAsync(IBatchExecutor executor)
    {
        var batch = new List<PendingWrite>(_options.MaxBatch);
        var reader = _queue.Reader;
        await using (executor)
        {
            while (await reader.WaitToReadAsync(CancellationToken.None))
            {
                batch.Clear();
                while (batch.Count < _options.MaxBatch && reader.TryRead(out var write))
                {
                    batch.Add(write);
                }

                await CommitAsync(executor, batch);
            }
        }
    }

    private async Task CommitAsync(IBatchExecutor executor, List<PendingWrite> batch)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await executor.ExecuteAsync(batch, CancellationToken.None);
            RolloutMetrics.GroupCommit(committed: true, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception e)
        {
            RolloutMetrics.GroupCommit(committed: false, Stopwatch.GetElapsedTime(started));
            _logger.LogWarning("Group commit of {Count} writes failed: {Error}", batch.Count, e.Message);
            foreach (var write in batch)
            {
                write.Done?.TrySetException(e);
            }

            return;
        }

        Interlocked.Add(ref _committedWrites, batch.Count);
        Interlocked.Increment(ref _committedBatches);
        foreach (var write in batch)
        {
            if (write.Done is null)
            {
                continue;
            }

            if (write.Conflict)
            {
                write.Done.TrySetException(new InconsistentStateException(
                    $"Grain state '{write.Key}' was written by another activation: stored version differs from {write.ExpectedVersion?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}.",
                    "unknown",
                    write.ExpectedVersion?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty));
            }
            else
            {
                write.Done.TrySetResult(write.NewVersion);
            }
        }
    }

    /// <summary>Stops taking writes, commits what is queued, and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_writers);
    }
}
