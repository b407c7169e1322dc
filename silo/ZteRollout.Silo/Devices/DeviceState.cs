using System.Collections.Immutable;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Silo.Devices;

/// <summary>
/// A device's stored state: small and bounded (one open offer, a few finished ones without manifests, a window of
/// report ids per offer), so a write costs the same for every device. It carries the registry and ledger rows its
/// next write must store with it (<see cref="IRowCarrier"/>); those are not part of the blob.
/// </summary>
[GenerateSerializer, Alias("zte.DeviceState")]
public sealed class DeviceState : IRowCarrier
{
    [NonSerialized]
    private List<RowChange>? _rows;

    /// <summary>Adds a row for the next write of this state to store in the same transaction.</summary>
    public void AddRow(RowChange row) => (_rows ??= []).Add(row);

    public IReadOnlyList<RowChange> TakeRows()
    {
        var rows = (IReadOnlyList<RowChange>?)_rows ?? [];
        _rows = null;
        return rows;
    }

    public void RestoreRows(IReadOnlyList<RowChange> rows)
    {
        if (rows.Count > 0)
        {
            (_rows ??= []).InsertRange(0, rows);
        }
    }

    [Id(0)]
    public bool Registered { get; set; }

    [Id(1)]
    public byte[] CredentialHash { get; set; } = [];

    [Id(2)]
    public ImmutableArray<string> Tags { get; set; } = [];

    [Id(3)]
    public DeviceFacts? Facts { get; set; }

    [Id(4)]
    public DateTimeOffset? LastCheckIn { get; set; }

    /// <summary>The open offer, or the last one when none is open.</summary>
    [Id(5)]
    public OfferRecord? Offer { get; set; }

    /// <summary>Earlier offers, newest first.</summary>
    [Id(6)]
    public List<OfferRecord> History { get; set; } = [];

    [Id(7)]
    public string? CurrentVersion { get; set; }

    [Id(8)]
    public BootSlot ActiveSlot { get; set; }

    /// <summary>Sequence of the last outcome event; events carry it so campaigns count each change once.</summary>
    [Id(9)]
    public long OutcomeSequence { get; set; }

    // Id 10 held an outbox of outcome events; they are now stored as ledger rows in the same write. Not to be reused.

    /// <summary>The latest counted outcome per campaign.</summary>
    [Id(11)]
    public Dictionary<string, DeviceOutcome> Outcomes { get; set; } = [];

    [Id(12)]
    public long OfferCounter { get; set; }

    // Id 13 held when facts were last stored; last-seen now goes to the registry row. Not to be reused.

    /// <summary>Offers made per campaign and the last failure, for the retry budget and backoff.</summary>
    [Id(14)]
    public Dictionary<string, CampaignAttempts> Attempts { get; set; } = [];

    /// <summary>The canceled offer whose cancellation the device acknowledged (hawkBit DDI cancelAction feedback).</summary>
    [Id(15)]
    public string? CancelAcknowledgedOfferId { get; set; }

    /// <summary>The offer that was the device's latest when it last sent its attributes (DDI asks again after each one finishes).</summary>
    [Id(16)]
    public string? FactsSentAtOfferId { get; set; }

    /// <summary>
    /// Generated deltas the device refused because its base image is not the delta's base (a modified or corrupt
    /// slot): it is offered the FULL instead from then on. Few, and only on such devices.
    /// </summary>
    [Id(20)]
    public List<string> RefusedDeltas { get; set; } = [];

    /// <summary>
    /// The success of <see cref="Offer"/> awaiting its health confirmation (its campaign has a health window); while
    /// set, the device gets no new offer, so the offer it watches stays the device's latest.
    /// </summary>
    [Id(21)]
    public HealthWatch? HealthWatch { get; set; }
}

/// <summary>How often a campaign offered the device its update, and how the last failure went.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignAttempts")]
public sealed record CampaignAttempts(
    [property: Id(0)] int Offers,
    [property: Id(1)] DateTimeOffset? LastFailureAt,
    [property: Id(2)] string? LastErrorCode)
{
    /// <summary>Failed attempts (FAILED, ROLLED_BACK, TIMED_OUT) so far; the ledger row carries it.</summary>
    [Id(3)]
    public int Failures { get; init; }
}
