using System.Collections.Immutable;
using Orleans.Concurrency;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Silo.Devices;

[GenerateSerializer, Alias("zte.DeviceRegistryState")]
public sealed class DeviceRegistryState
{
    [Id(0)]
    public Dictionary<string, RegistryEntry> Devices { get; set; } = [];
}

/// <summary>
/// One shard of the device index for dry runs. Device grains update it on registration and when their identity
/// facts change (not on every check-in). Writes are batched like the stats shards'.
/// </summary>
[Reentrant]
public sealed class DeviceRegistryGrain : Grain, IDeviceRegistryGrain
{
    private readonly IPersistentState<DeviceRegistryState> _state;
    private readonly GroupCommit _commit;

    // The live index. Interleaved calls change it while a write is under way, and the storage provider serializes
    // the state off the grain's scheduler, so every write gets its own copy (entries are immutable; the copy is shallow).
    private Dictionary<string, RegistryEntry>? _devices;

    public DeviceRegistryGrain([PersistentState("registry", RolloutStorage.Name)] IPersistentState<DeviceRegistryState> state)
    {
        _state = state;
        _commit = new GroupCommit(() =>
        {
            _state.State = new DeviceRegistryState { Devices = new Dictionary<string, RegistryEntry>(Devices, StringComparer.Ordinal) };
            return _state.WriteStateAsync();
        });
    }

    private Dictionary<string, RegistryEntry> Devices => _devices ??= new Dictionary<string, RegistryEntry>(_state.State.Devices, StringComparer.Ordinal);

    public Task UpsertAsync(string deviceId, RegistryEntry entry)
    {
        Devices[deviceId] = entry;
        return _commit.CommitAsync();
    }

    public Task<DryRunResult> DryRunAsync(DryRunQuery query)
    {
        var perStage = new long[query.StagePercents.Length];
        long eligible = 0;
        var targets = query.TargetVersionByModel.ToDictionary(t => t.Key, t => FirmwareVersion.Parse(t.Value), StringComparer.Ordinal);
        foreach (var (deviceId, entry) in Devices)
        {
            if (entry.Facts is not { } facts
                || !targets.TryGetValue(facts.Model, out var target)
                || !FirmwareVersion.TryParse(facts.CurrentVersion, out var current, out _)
                || !OfferSelection.IsEligible(new DeviceContext(deviceId, entry.Tags, facts), current, query.Eligibility)
                || (query.Rollback ? target >= current : target <= current))
            {
                continue;
            }

            eligible++;
            var bucket = Bucketing.BucketOf(query.Salt, deviceId);
            for (var i = 0; i < perStage.Length; i++)
            {
                if (Bucketing.IsExposed(bucket, query.StagePercents[i]))
                {
                    perStage[i]++;
                }
            }
        }

        return Task.FromResult(new DryRunResult(eligible, [.. perStage]));
    }
}
