using System.Collections.Immutable;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Shared.Grains;

/// <summary>Every package's signed manifest and metadata (bytes live in the blob store). Key: 0.</summary>
[Alias("zte.IPackageCatalogGrain")]
public interface IPackageCatalogGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Signs and stores a package whose bytes are already in the blob store. Uploading the same package again
    /// returns the stored one; same (model, version, kind, base) with other bytes is AlreadyExists.
    /// </summary>
    [Alias("Register")]
    Task<PackageRecord> RegisterAsync(PackageMetadata metadata, long size, string sha256);

    [Alias("Get")]
    Task<PackageRecord?> GetAsync(string packageId);

    /// <summary>Packages, newest version first, optionally only those built for <paramref name="model"/>.</summary>
    [Alias("List")]
    Task<ImmutableArray<PackageRecord>> ListAsync(string? model);

    /// <summary>
    /// Signs and stores a delta the server generated for <paramref name="job"/>'s pair (bytes already in the blob
    /// store): a DELTA package in format <c>zstd-patch-1</c> with the base and target SHA-256 in its manifest. The same
    /// bytes again return the stored package; another delta already in the pair's slot is AlreadyExists.
    /// </summary>
    [Alias("RegisterGeneratedDelta")]
    Task<PackageRecord> RegisterGeneratedDeltaAsync(DeltaJob job, long size, string sha256, int windowLog);

    /// <summary>The public half of the silo's online signing key, PEM; null when it holds none (<c>Rollout:Signing:OnlineKey</c> off).</summary>
    [Alias("GetSigningKey")]
    Task<string?> GetSigningKeyAsync();

    /// <summary>
    /// Stores a package whose manifest a release key signed offline (<c>zte-rollout packages sign</c>). Accepted only
    /// when the signature verifies with a trusted release key, the manifest has not expired, and it describes exactly
    /// these bytes and this metadata; otherwise InvalidArgument naming <c>manifest.key_id</c>, <c>manifest.signature</c>,
    /// <c>manifest.expires</c> or the field that differs. Same idempotency and slot rules as <see cref="RegisterAsync"/>.
    /// </summary>
    [Alias("RegisterSigned")]
    Task<PackageRecord> RegisterSignedAsync(PackageMetadata metadata, long size, string sha256, byte[] manifest, byte[] signature);

    /// <summary>
    /// Applies a key rotation statement: the new key becomes trusted and the statement's revoked keys untrusted, when
    /// a trusted key signed it. Applying it again changes nothing. Returns every release key the catalog knows.
    /// </summary>
    [Alias("TrustKey")]
    Task<ImmutableArray<ReleaseKey>> TrustKeyAsync(byte[] statement, byte[] signature);

    /// <summary>Every release key the catalog knows, trusted and revoked, oldest first.</summary>
    [Alias("ListReleaseKeys")]
    Task<ImmutableArray<ReleaseKey>> ListReleaseKeysAsync();
}

/// <summary>A release public key in the catalog's trust store: trusted until <see cref="RevokedAt"/> is set.</summary>
[GenerateSerializer, Immutable, Alias("zte.ReleaseKey")]
public sealed record ReleaseKey(
    [property: Id(0)] string KeyId,
    [property: Id(1)] string PublicKeyPem,
    [property: Id(2)] string Source,
    [property: Id(3)] DateTimeOffset AddedAt)
{
    /// <summary>When a rotation statement revoked it; a revoked key is never trusted again.</summary>
    [Id(4)]
    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>The key whose statement revoked it.</summary>
    [Id(5)]
    public string? RevokedBy { get; init; }

    public bool IsTrusted => RevokedAt is null;
}

/// <summary>
/// The server's delta generation: which (base FULL, target FULL) pairs are wanted and where each stands. Records
/// requests durably and hands the builds to the silo's builder; it never calls the package catalog (the catalog calls
/// it), so neither waits on the other. Key: 0.
/// </summary>
[Alias("zte.IDeltaGenerationGrain")]
public interface IDeltaGenerationGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Records that deltas for these pairs are wanted and starts their builds. A pair already recorded is not built
    /// again (its job is returned as it stands); a failed one is queued again.
    /// </summary>
    [Alias("Request")]
    Task<ImmutableArray<DeltaJob>> RequestAsync(ImmutableArray<DeltaPair> pairs, string requestedBy);

    /// <summary>Jobs whose base or target is <paramref name="packageId"/> (all when null), with the progress of running builds.</summary>
    [Alias("List")]
    Task<ImmutableArray<DeltaJob>> ListAsync(string? packageId);

    /// <summary>Wakes the grain after a silo start, so builds a restart interrupted are built again.</summary>
    [Alias("Resume")]
    Task ResumeAsync();

    /// <summary>A builder's result for attempt <paramref name="attempt"/> of a job; a stale attempt's result is ignored.</summary>
    [Alias("Complete")]
    Task CompleteAsync(string key, int attempt, DeltaJob result);
}

/// <summary>A delta wanted from one FULL package to a newer one.</summary>
[GenerateSerializer, Immutable, Alias("zte.DeltaPair")]
public sealed record DeltaPair([property: Id(0)] PackageRecord Base, [property: Id(1)] PackageRecord Target);
