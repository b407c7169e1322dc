namespace ZteRollout.Gateway;

/// <summary>Gateway settings; bound from the configuration section <c>Rollout:Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Rollout:Gateway";

    /// <summary>Data directory: the admin key file and, unless <see cref="BlobDirectory"/> is set, the blobs.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Where package bytes live (content-addressed). Gateways of one cluster must share it.</summary>
    public string? BlobDirectory { get; set; }

    /// <summary>Largest package accepted, in bytes (default 4 GiB).</summary>
    public long MaxPackageBytes { get; set; } = 4L << 30;

    /// <summary>
    /// Bytes per download chunk (default 64 KiB; 16 KiB to 1 MiB). Below the 85,000-byte large-object threshold, so a .NET
    /// client's copy of each chunk stays off the large object heap (docs/benchmarks.md, <c>download</c>).
    /// </summary>
    public int DownloadChunkBytes { get; set; } = 64 * 1024;

    /// <summary>Most devices per RegisterDevices call.</summary>
    public int MaxRegisterBatch { get; set; } = 1000;

    /// <summary>How long a verified device credential is trusted without asking the device grain again.</summary>
    public TimeSpan DeviceCredentialCacheTime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Most verified device credentials a gateway remembers at once (about 200 bytes each).</summary>
    public int DeviceCredentialCacheEntries { get; set; } = 1_000_000;

    /// <summary>Admin API keys, by hash. The embedded node also trusts the key in <c>{data}/admin-api-key</c>.</summary>
    public List<ApiKeyEntry> ApiKeys { get; set; } = [];

    public string ResolvedBlobDirectory => BlobDirectory ?? Path.Combine(DataDirectory, "blobs");
}

/// <summary>One admin API key: who it is, its role, and the hex SHA-256 of the key (the key itself is never stored).</summary>
public sealed class ApiKeyEntry
{
    public string Name { get; set; } = string.Empty;

    public string Role { get; set; } = string.Empty;

    public string Sha256 { get; set; } = string.Empty;
}
