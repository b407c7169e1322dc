namespace ZteRollout.Silo.Storage;

/// <summary>
/// One grain's write (or a rows-only change) waiting for the next group commit. The writer sets
/// <see cref="NewVersion"/> or <see cref="ConflictVersion"/> while it runs the batch, and completes
/// <see cref="Done"/> only after the batch's transaction committed (ack means durable) or failed.
/// </summary>
internal sealed class PendingWrite
{
    private PendingWrite(string? key, int? expectedVersion, byte[]? payload, IReadOnlyList<RowChange> rows, bool awaited)
    {
        Key = key;
        ExpectedVersion = expectedVersion;
        Payload = payload;
        Rows = rows;
        Done = awaited ? new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously) : null;
    }

    /// <summary>The grain's state key; null for a rows-only change.</summary>
    public string? Key { get; }

    /// <summary>The version the grain read (its ETag); null for a grain that has no stored state yet.</summary>
    public int? ExpectedVersion { get; }

    /// <summary>The serialized state; null deletes the grain's row.</summary>
    public byte[]? Payload { get; }

    public IReadOnlyList<RowChange> Rows { get; }

    /// <summary>Completes with the new version once durable; null for fire-and-forget row changes.</summary>
    public TaskCompletionSource<int>? Done { get; }

    public int NewVersion { get; set; }

    /// <summary>Set when the stored version was not the expected one: this write, and its rows, were not applied.</summary>
    public bool Conflict { get; set; }

    public static PendingWrite State(string key, int? expectedVersion, byte[] payload, IReadOnlyList<RowChange> rows) =>
        new(key, expectedVersion, payload, rows, awaited: true);

    public static PendingWrite Delete(string key, int expectedVersion) => new(key, expectedVersion, null, [], awaited: true);

    public static PendingWrite RowsOnly(IReadOnlyList<RowChange> rows) => new(null, null, null, rows, awaited: false);
}
