using Orleans.Concurrency;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Silo.Devices;

/// <summary>
/// Dry runs over the device registry table. The rows are written by the device grains themselves, in the same
/// transaction as their state, so there is nothing here to keep in sync; a query reads only the plan's models
/// (an index range) and judges the rest of eligibility, which needs firmware version ordering, in code.
/// </summary>
[StatelessWorker]
public sealed class DeviceRegistryGrain(RowQueries rows) : Grain, IDeviceRegistryGrain
{
    public async Task<DryRunResult> DryRunAsync(DryRunQuery query)
    {
        var perStage = new long[query.StagePercents.Length];
        long eligible = 0;
        var targets = query.TargetVersionByModel.ToDictionary(t => t.Key, t => FirmwareVersion.Parse(t.Value), StringComparer.Ordinal);
        await foreach (var row in rows.ReadDevicesOfModelsAsync(targets.Keys, CancellationToken.None))
        {
            if (row.CurrentVersion is null || !FirmwareVersion.TryParse(row.CurrentVersion, out var current, out _))
            {
                continue;
            }

            // The registry keeps the facts that decide eligibility; the rest of DeviceFacts plays no part in it.
            var facts = new DeviceFacts(row.Model!, row.HardwareRevision ?? string.Empty, row.Region ?? string.Empty,
                row.Carrier ?? string.Empty, row.CurrentVersion, BootSlot.A, 100, 0, string.Empty);
            var target = targets[row.Model!];
            if (!OfferSelection.IsEligible(new DeviceContext(row.DeviceId, row.Tags, facts), current, query.Eligibility)
                || (query.Rollback ? target >= current || !RollbackAuthorized(query, row.Model!, current) : target <= current))
            {
                continue;
            }

            eligible++;
            var bucket = Bucketing.BucketOf(query.Salt, row.DeviceId);
            for (var i = 0; i < perStage.Length; i++)
            {
                if (Bucketing.IsExposed(bucket, query.StagePercents[i]))
                {
                    perStage[i]++;
                }
            }
        }

        return new DryRunResult(eligible, [.. perStage]);
    }

    /// <summary>A rollback reaches only devices on a version its target's signed manifest lists (as the check-in decides).</summary>
    private static bool RollbackAuthorized(DryRunQuery query, string model, FirmwareVersion current) =>
        query.RollbackFromByModel?.GetValueOrDefault(model) is { } versions && PackageManifest.AuthorizesDowngradeFrom(versions, current);
}
