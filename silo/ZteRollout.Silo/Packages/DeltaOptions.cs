namespace ZteRollout.Silo.Packages;

/// <summary>Server-side delta generation; bound from the configuration section <c>Rollout:Deltas</c>.</summary>
public sealed class DeltaOptions
{
    public const string Section = "Rollout:Deltas";

    /// <summary>Generate deltas when a FULL package is uploaded (on-demand requests work either way).</summary>
    public bool GenerateOnUpload { get; set; } = true;

    /// <summary>How many previous FULL versions of the same model an upload gets deltas from (newest first).</summary>
    public int PreviousVersions { get; set; } = 3;

    /// <summary>A delta is kept only when smaller than this share of its FULL image; otherwise devices get the FULL.</summary>
    public double MaxShareOfFull { get; set; } = 0.5;

    /// <summary>Deltas built at once on one silo (each is one CPU-bound thread).</summary>
    public int MaxConcurrent { get; set; } = 1;

    /// <summary>
    /// Memory all running builds of one silo may use together (base image plus zstd's estimate of its compressor).
    /// A build that does not fit beside the running ones waits; one that could never fit is refused with the reason.
    /// </summary>
    public long MemoryBudgetBytes { get; set; } = 2L << 30;

    /// <summary>
    /// Largest zstd window log a delta may need (devices must hold 2^log bytes to apply it). zstd's own limit, and the
    /// default, is 31 (2 GiB); an image that needs more is refused for delta generation with the reason.
    /// </summary>
    public int MaxWindowLog { get; set; } = Shared.Packages.ZstdPatch.MaxWindowLog;

    /// <summary>Where package bytes live; null means <c>Rollout:Gateway:BlobDirectory</c>, else <c>{data}/blobs</c>.</summary>
    public string? BlobDirectory { get; set; }
}
