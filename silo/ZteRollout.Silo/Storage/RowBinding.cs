using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Storage;

/// <summary>Parameter values of the row statements, shared by the SQLite and PostgreSQL executors.</summary>
internal static class RowBinding
{
    /// <summary>Tags are stored one per line (a tag never holds a line break: the admin API refuses one).</summary>
    public const char TagSeparator = '\n';

    public static string StatementOf(RowChange row) => row switch
    {
        DeviceRowChange => RowStatements.UpsertDevice,
        LastSeenChange => RowStatements.TouchDevice,
        LedgerRowChange => RowStatements.UpsertLedger,
        _ => throw new ArgumentOutOfRangeException(nameof(row), row, "Unknown row change."),
    };

    /// <summary>The table a row change locks, as a rank: the device registry before the campaign ledgers.</summary>
    public static int LockOrderTable(RowChange row) => row switch
    {
        DeviceRowChange or LastSeenChange => 0,
        LedgerRowChange => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(row), row, "Unknown row change."),
    };

    /// <summary>The key of the row a change locks within its table.</summary>
    public static string LockOrderKey(RowChange row) => row switch
    {
        DeviceRowChange d => d.DeviceId,
        LastSeenChange t => t.DeviceId,
        LedgerRowChange l => l.Event.CampaignId + "\u0000" + l.Event.DeviceId,
        _ => throw new ArgumentOutOfRangeException(nameof(row), row, "Unknown row change."),
    };

    public static void Bind(RowChange row, Action<string, object?> set)
    {
        switch (row)
        {
            case DeviceRowChange d:
                set("d", d.DeviceId);
                set("tags", d.Tags.IsDefaultOrEmpty ? string.Empty : string.Join(TagSeparator, d.Tags));
                set("model", d.Facts?.Model);
                set("hw", d.Facts?.HardwareRevision);
                set("region", d.Facts?.Region);
                set("carrier", d.Facts?.Carrier);
                set("version", d.Facts?.CurrentVersion);
                break;
            case LastSeenChange t:
                set("d", t.DeviceId);
                set("t", t.SeenAt.ToUnixTimeMilliseconds());
                break;
            case LedgerRowChange l:
                var e = l.Event;
                set("c", e.CampaignId);
                set("d", e.DeviceId);
                set("shard", l.Shard);
                set("seq", e.Sequence);
                set("outcome", (int)e.Outcome);
                set("stage", e.Stage);
                set("error", e.ErrorCode);
                set("failed", e.FailedAttempts);
                set("lastfail", e.LastFailureCode);
                set("offer", e.OfferId);
                set("deadline", e.Deadline?.ToUnixTimeMilliseconds());
                set("retry", e.RetryPending ? 1 : 0);
                set("model", e.Cohort.Model);
                set("hw", e.Cohort.HardwareRevision);
                set("region", e.Cohort.Region);
                set("carrier", e.Cohort.Carrier);
                set("source", e.Cohort.SourceVersion);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(row), row, "Unknown row change.");
        }
    }

    /// <summary>The parameter names a statement takes, for executors that prepare a command once.</summary>
    public static IReadOnlyList<string> ParametersOf(string statement) => statement switch
    {
        RowStatements.UpsertDevice => ["d", "tags", "model", "hw", "region", "carrier", "version"],
        RowStatements.TouchDevice => ["d", "t"],
        RowStatements.UpsertLedger =>
            ["c", "d", "shard", "seq", "outcome", "stage", "error", "failed", "lastfail", "offer", "deadline", "retry", "model", "hw", "region", "carrier", "source"],
        RowStatements.InsertState => ["k", "p"],
        RowStatements.UpdateState => ["k", "v", "p"],
        RowStatements.DeleteState => ["k", "v"],
        RowStatements.ReadState => ["k"],
        _ => throw new ArgumentOutOfRangeException(nameof(statement), statement, "Unknown statement."),
    };

    public static string StateStatementOf(PendingWrite write) =>
        write.Payload is null ? RowStatements.DeleteState
        : write.ExpectedVersion is null ? RowStatements.InsertState
        : RowStatements.UpdateState;

    public static void BindState(PendingWrite write, Action<string, object?> set)
    {
        set("k", write.Key);
        if (write.ExpectedVersion is { } version)
        {
            set("v", version);
        }

        if (write.Payload is { } payload)
        {
            set("p", payload);
        }
    }

    /// <summary>A ledger row read back, as the event that wrote it.</summary>
    public static OutcomeEvent ReadLedger(string campaignId, System.Data.Common.DbDataReader r) =>
        new(campaignId, r.GetString(0), r.GetInt64(1), (DeviceOutcome)r.GetInt32(2), r.IsDBNull(4) ? null : r.GetString(4),
            new Cohort(r.GetString(10), r.GetString(11), r.GetString(12), r.GetString(13), r.GetString(14)))
        {
            Stage = r.GetInt32(3),
            FailedAttempts = r.GetInt32(5),
            LastFailureCode = r.IsDBNull(6) ? null : r.GetString(6),
            OfferId = r.IsDBNull(7) ? null : r.GetString(7),
            Deadline = r.IsDBNull(8) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)),
            RetryPending = r.GetInt32(9) != 0,
        };
}
