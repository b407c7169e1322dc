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

    /// <summary>The public half of the manifest signing key, PEM.</summary>
    [Alias("GetSigningKey")]
    Task<string> GetSigningKeyAsync();
}
