namespace ZteRollout.Shared.Packages;

/// <summary>Where the server's generation of one delta stands.</summary>
[GenerateSerializer]
public enum DeltaJobState
{
    /// <summary>Recorded; waits for a builder slot and memory.</summary>
    Queued = 1,

    /// <summary>Being built (after a restart, a half-built one is discarded and built again).</summary>
    Building = 2,

    /// <summary>Built, small enough, registered as a DELTA package: devices on the base version get it.</summary>
    Kept = 3,

    /// <summary>Built or judged not worth it (too large a share of the full image, compressed payload); devices get the FULL.</summary>
    Skipped = 4,

    /// <summary>Cannot be built (window limit, memory budget); devices get the FULL.</summary>
    Refused = 5,

    /// <summary>The build failed (missing blob, I/O error); devices get the FULL. A new request builds it again.</summary>
    Failed = 6,
}

/// <summary>
/// The server's delta from one FULL package to a newer one of the same model. One per (base, target) pair; the pair
/// is the identity, so asking twice never builds twice.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.DeltaJob")]
public sealed record DeltaJob(
    [property: Id(0)] string BasePackageId,
    [property: Id(1)] string TargetPackageId,
    [property: Id(2)] string BaseVersion,
    [property: Id(3)] string TargetVersion,
    [property: Id(4)] DeltaJobState State,
    [property: Id(5)] DateTimeOffset RequestedAt,
    [property: Id(6)] string RequestedBy)
{
    /// <summary>Builds started; above 1 after a restart interrupted one.</summary>
    [Id(7)]
    public int Attempt { get; init; }

    /// <summary>Target bytes consumed by the running build (progress), of <see cref="TargetSize"/>.</summary>
    [Id(8)]
    public long BytesDone { get; init; }

    [Id(9)]
    public long TargetSize { get; init; }

    /// <summary>The DELTA package, once kept.</summary>
    [Id(10)]
    public string? DeltaPackageId { get; init; }

    /// <summary>Size of the built patch (also for a skipped one, to show how close it came).</summary>
    [Id(11)]
    public long DeltaSize { get; init; }

    /// <summary>Why the delta was skipped, refused or failed.</summary>
    [Id(12)]
    public string? Reason { get; init; }

    [Id(13)]
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>zstd window log of the patch (0 until known).</summary>
    [Id(14)]
    public int WindowLog { get; init; }

    /// <summary>The images' facts, kept with the job so a build resumes without asking the catalog.</summary>
    [Id(15)]
    public string BaseSha256 { get; init; } = string.Empty;

    [Id(16)]
    public long BaseSize { get; init; }

    [Id(17)]
    public string TargetSha256 { get; init; } = string.Empty;

    public string Key => KeyOf(BasePackageId, TargetPackageId);

    public bool IsFinished => State is DeltaJobState.Kept or DeltaJobState.Skipped or DeltaJobState.Refused or DeltaJobState.Failed;

    public static string KeyOf(string basePackageId, string targetPackageId) => basePackageId + ">" + targetPackageId;
}
