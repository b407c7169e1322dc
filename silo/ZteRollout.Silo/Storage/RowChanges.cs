using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Storage;

/// <summary>
/// A row a grain's state write carries into the same transaction (registry and ledger tables), so the change
/// and what it means for the fleet's index and the campaign's counts are durable together or not at all.
/// </summary>
public abstract record RowChange;

/// <summary>Upserts a device's registry row: its tags and the facts that decide eligibility.</summary>
public sealed record DeviceRowChange(string DeviceId, ImmutableArray<string> Tags, DeviceFacts? Facts) : RowChange;

/// <summary>Refreshes when a device was last seen; carries no grain state and is never awaited by a device.</summary>
public sealed record LastSeenChange(string DeviceId, DateTimeOffset SeenAt) : RowChange;

/// <summary>
/// Upserts a device's row in a campaign's ledger, but only when <see cref="OutcomeEvent.Sequence"/> is newer than the
/// stored one: the exactly-once record counts are derived from.
/// </summary>
public sealed record LedgerRowChange(OutcomeEvent Event) : RowChange
{
    public int Shard => StatsSharding.ShardOf(Event.DeviceId);
}

/// <summary>Grain state that carries row changes into its next write.</summary>
public interface IRowCarrier
{
    /// <summary>The rows to write with the state now; the carrier forgets them.</summary>
    IReadOnlyList<RowChange> TakeRows();

    /// <summary>Puts back rows whose write failed, so the next write of the state carries them again.</summary>
    void RestoreRows(IReadOnlyList<RowChange> rows);
}
