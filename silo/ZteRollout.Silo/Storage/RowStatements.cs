namespace ZteRollout.Silo.Storage;

/// <summary>
/// The statements of the group-commit storage. One text serves SQLite and PostgreSQL: both take <c>@name</c>
/// parameters and <c>INSERT … ON CONFLICT … DO UPDATE … WHERE</c>; unquoted names fold the same way in both.
/// No statement fails on a conflict (a stale ETag updates no row), so one grain's conflict never aborts its batch.
/// </summary>
internal static class RowStatements
{
    public const string ReadState = "SELECT Version, Payload FROM ZteGrainState WHERE GrainKey = @k";

    /// <summary>A first write (no ETag): applies only when no row exists yet.</summary>
    public const string InsertState =
        "INSERT INTO ZteGrainState (GrainKey, Version, Payload) VALUES (@k, 1, @p) ON CONFLICT (GrainKey) DO NOTHING";

    /// <summary>A write with an ETag: applies only when the stored version is the one the grain read.</summary>
    public const string UpdateState =
        "UPDATE ZteGrainState SET Version = @v + 1, Payload = @p WHERE GrainKey = @k AND Version = @v";

    public const string DeleteState = "DELETE FROM ZteGrainState WHERE GrainKey = @k AND Version = @v";

    public const string UpsertDevice =
        "INSERT INTO ZteDevice (DeviceId, Tags, Model, HardwareRevision, Region, Carrier, CurrentVersion, LastSeenAt) " +
        "VALUES (@d, @tags, @model, @hw, @region, @carrier, @version, NULL) " +
        "ON CONFLICT (DeviceId) DO UPDATE SET Tags = excluded.Tags, Model = excluded.Model, " +
        "HardwareRevision = excluded.HardwareRevision, Region = excluded.Region, Carrier = excluded.Carrier, " +
        "CurrentVersion = excluded.CurrentVersion";

    public const string TouchDevice =
        "UPDATE ZteDevice SET LastSeenAt = @t WHERE DeviceId = @d AND (LastSeenAt IS NULL OR LastSeenAt < @t)";

    /// <summary>The exactly-once rule in SQL: a ledger row is replaced only by a newer per-device sequence.</summary>
    public const string UpsertLedger =
        "INSERT INTO ZteCampaignDevice (CampaignId, DeviceId, Shard, Sequence, Outcome, Stage, ErrorCode, FailedAttempts, " +
        "LastFailureCode, OfferId, Deadline, RetryPending, Model, HardwareRevision, Region, Carrier, SourceVersion) " +
        "VALUES (@c, @d, @shard, @seq, @outcome, @stage, @error, @failed, @lastfail, @offer, @deadline, @retry, " +
        "@model, @hw, @region, @carrier, @source) " +
        "ON CONFLICT (CampaignId, DeviceId) DO UPDATE SET Shard = excluded.Shard, Sequence = excluded.Sequence, " +
        "Outcome = excluded.Outcome, Stage = excluded.Stage, ErrorCode = excluded.ErrorCode, " +
        "FailedAttempts = excluded.FailedAttempts, LastFailureCode = excluded.LastFailureCode, OfferId = excluded.OfferId, " +
        "Deadline = excluded.Deadline, RetryPending = excluded.RetryPending, Model = excluded.Model, " +
        "HardwareRevision = excluded.HardwareRevision, Region = excluded.Region, Carrier = excluded.Carrier, " +
        "SourceVersion = excluded.SourceVersion " +
        "WHERE ZteCampaignDevice.Sequence < excluded.Sequence";

    public const string ReadShardLedger =
        "SELECT DeviceId, Sequence, Outcome, Stage, ErrorCode, FailedAttempts, LastFailureCode, OfferId, Deadline, " +
        "RetryPending, Model, HardwareRevision, Region, Carrier, SourceVersion " +
        "FROM ZteCampaignDevice WHERE CampaignId = @c AND Shard = @shard";
}
