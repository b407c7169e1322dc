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

    /// <summary>Most verified device credentials a gateway remembers at once (about 250 bytes each).</summary>
    public int DeviceCredentialCacheEntries { get; set; } = 1_000_000;

    /// <summary>Most estimated bytes the verified device credentials may take (default 256 MiB); the oldest go first.</summary>
    public long DeviceCredentialCacheBytes { get; set; } = Auth.VerifiedTokenCache.DefaultMaxBytes;

    /// <summary>
    /// How long a gateway remembers a token the device grain refused (its MAC was valid, but the credential was rotated
    /// or the device is unknown), so repeating it costs no grain call. Such a token never becomes valid again.
    /// </summary>
    public TimeSpan RefusedTokenCacheTime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most refused tokens remembered at once (about 400 bytes each); the oldest go first.</summary>
    public int RefusedTokenCacheEntries { get; set; } = 100_000;

    /// <summary>
    /// The key of the MAC in device tokens (base64, at least 32 bytes). Unset: <c>{data}/device-token-key</c>, created on
    /// first start. Every gateway of a cluster must use the same key (docs/security.md).
    /// </summary>
    public string? DeviceTokenKey { get; set; }

    /// <summary>Earlier device-token keys, still accepted (not used to issue): rotate by moving the key here and setting a new one.</summary>
    public List<string> PreviousDeviceTokenKeys { get; set; } = [];

    /// <summary>
    /// Whether tokens of the first, unsigned format (<c>zdt1:</c>, issued before device tokens carried a MAC) are still
    /// accepted. Off by default: each one costs a grain call to refuse. Turn on only while re-issuing credentials
    /// (RegisterDevices with rotate_existing), then off again (docs/security.md, migration).
    /// </summary>
    public bool AcceptUnsignedDeviceTokens { get; set; }

    /// <summary>
    /// Largest device request message (default 64 KiB). Device messages are read before their token is checked, so
    /// they are small; only admin uploads are large (<see cref="MaxAdminMessageBytes"/>), and admin calls are
    /// authenticated before their body is read.
    /// </summary>
    public int MaxDeviceMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Largest admin request message (default 8 MiB): upload chunks are well under it.</summary>
    public int MaxAdminMessageBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Largest authorization header a gateway looks at (default 1 KiB); a longer one is refused unread.</summary>
    public int MaxAuthorizationHeaderChars { get; set; } = 1024;

    /// <summary>Largest total of request headers Kestrel accepts (default 16 KiB; Kestrel's own default is 32 KiB).</summary>
    public int MaxRequestHeaderBytes { get; set; } = 16 * 1024;

    /// <summary>Whether the gRPC reflection service is served; by default only by the embedded node (docs/security.md).</summary>
    public bool? EnableReflection { get; set; }

    /// <summary>
    /// PEM file of the CA that issues device client certificates. Set, the TLS listeners ask for a client certificate
    /// issued by it, and every device call must come with one whose subject CN is the device id (as hawkBit's mTLS
    /// option), on top of the device token. Unset (the default), devices authenticate by token alone.
    /// </summary>
    public string? DeviceClientCaPath { get; set; }

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
