using System.Diagnostics;
using System.Globalization;
using Orleans.Serialization;
using Orleans.Storage;
using ZteRollout.Shared.Telemetry;

namespace ZteRollout.Silo.Storage;

/// <summary>
/// The grain storage of the hot grains (<see cref="RolloutStorage.Hot"/>): Orleans' <see cref="IGrainStorage"/> over
/// <see cref="GroupCommitWriter"/>, so the writes of many grains share one transaction. The state is serialized with
/// the Orleans binary serializer (the same [Id] contract as messages) synchronously, on the grain's own scheduler,
/// before the write is queued: what is stored is the state as it was when the grain asked, whatever it does next.
/// State that implements <see cref="IRowCarrier"/> hands over the rows that must be stored with it.
/// Each write is a span (<see cref="RolloutTracing.StorageWriteSpan"/>, under the grain call that asked for it) and a
/// latency on <see cref="RolloutMetrics"/>: the wait a device's ack includes.
/// </summary>
public sealed class GroupCommitGrainStorage(GroupCommitWriter writer, Serializer serializer) : IGrainStorage
{
    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var stored = await writer.ReadStateAsync(Key(stateName, grainId));
        if (stored is not { } row)
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
            return;
        }

        grainState.State = serializer.Deserialize<T>(row.Payload);
        grainState.ETag = row.Version.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        // A latency, not a time of day: the monotonic stopwatch, whatever clock the rollout runs on.
        var started = Stopwatch.GetTimestamp();
        using var span = RolloutTracing.Source.StartActivity(RolloutTracing.StorageWriteSpan, ActivityKind.Client);
        span?.SetTag("zte.state", stateName);
        span?.SetTag("zte.grain", grainId.ToString());
        var payload = serializer.SerializeToArray(grainState.State);
        var carrier = grainState.State as IRowCarrier;
        var rows = carrier?.TakeRows() ?? [];
        try
        {
            var version = await writer.WriteStateAsync(Key(stateName, grainId), ExpectedVersion(grainState.ETag), payload, rows);
            grainState.ETag = version.ToString(CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
        }
        catch (Exception e)
        {
            carrier?.RestoreRows(rows);
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
        finally
        {
            RolloutMetrics.DurableWrite(stateName, Stopwatch.GetElapsedTime(started));
        }
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (ExpectedVersion(grainState.ETag) is { } version)
        {
            await writer.DeleteStateAsync(Key(stateName, grainId), version);
        }

        grainState.State = Activator.CreateInstance<T>();
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    private static string Key(string stateName, GrainId grainId) => $"{stateName}:{grainId}";

    private static int? ExpectedVersion(string? etag) =>
        etag is null ? null : int.Parse(etag, NumberStyles.None, CultureInfo.InvariantCulture);
}
