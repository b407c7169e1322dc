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

    public DeviceRegistryGrain([PersistentState("registry", RolloutStorage.Name)] IPersistentState<DeviceRegistryState> state)
    {
        _state = state;
        _commit = new GroupCommit(() => _state.WriteStateAsync());
    }

    public Task UpsertAsync(string deviceId, RegistryEntry entry)
    {
        _state.State.Devices[deviceId] = entry;
        return _commit.CommitAsync();
    }

    public Task<DryRunResult> DryRunAsync(DryRunQuery query)
    {
        var perStage = new long[query.StagePercents.Length];
        long eligible = 0;
        var targets = query.TargetVersionByModel.ToDictionary(t => t.Key, t => FirmwareVersion.Parse(t.Value), StringComparer.Ordinal);
        foreach (var (deviceId, entry) in _state.State.Devices)
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
