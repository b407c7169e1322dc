using ZteRollout.Shared;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Silo.Packages;

[GenerateSerializer, Alias("zte.PackageCatalogState")]
public sealed class PackageCatalogState
{
    [Id(0)]
    public Dictionary<string, PackageRecord> Packages { get; set; } = [];
}

/// <summary>Holds every package manifest; packages number in the hundreds, so one grain keeps them all.</summary>
public sealed class PackageCatalogGrain(
    [PersistentState("catalog", RolloutStorage.Name)] IPersistentState<PackageCatalogState> state,
    ManifestSigner signer,
    RolloutClock clock) : Grain, IPackageCatalogGrain
{
    public async Task<PackageRecord> RegisterAsync(PackageMetadata metadata, long size, string sha256)
    {
        var packageId = PackageIdFor(metadata, sha256);
        if (state.State.Packages.TryGetValue(packageId, out var existing))
        {
            // The same package uploaded again (a retried upload): answer as the first time did.
            return existing;
        }

        foreach (var other in state.State.Packages.Values)
        {
            // The same image signed with other terms (the previous release re-issued as a rollback package, with
            // rollback_from and a security version) is no ambiguity: its bytes are the ones the slot already has.
            if (!SameImageOtherTerms(other, metadata, sha256) && SameSlot(other, metadata) is { } model)
            {
                throw RolloutException.AlreadyExists(
                    $"package '{other.PackageId}' already is {metadata.Kind.ToString().ToUpperInvariant()} {metadata.Version}"
                    + (metadata.BaseVersion is null ? string.Empty : $" from {metadata.BaseVersion}")
                    + $" for model '{model}' with different bytes (sha256 {other.Manifest.Sha256})");
            }
        }

        var manifest = new PackageManifest(packageId, metadata.Version, metadata.Models, metadata.Kind, metadata.BaseVersion, size, sha256)
        {
            SecurityVersion = metadata.SecurityVersion,
            RollbackFrom = metadata.RollbackFrom,
        };
        var bytes = ManifestCodec.Encode(manifest);
        var record = new PackageRecord(manifest, metadata, bytes, signer.Sign(bytes), clock.UtcNow);
        state.State.Packages[packageId] = record;
        await state.WriteStateAsync();

        if (metadata.Kind == PackageKind.Delta)
        {
            // A delta for a running campaign's target version changes what devices should be offered.
            await GrainFactory.GetGrain<ICampaignDirectoryGrain>(0).PackageAddedAsync(record);
        }

        return record;
    }

    public Task<PackageRecord?> GetAsync(string packageId) =>
        Task.FromResult(state.State.Packages.GetValueOrDefault(packageId));

    public Task<ImmutableArray<PackageRecord>> ListAsync(string? model) =>
        Task.FromResult(state.State.Packages.Values
            .Where(p => model is null || p.Manifest.Models.Contains(model))
            .OrderByDescending(p => FirmwareVersion.Parse(p.Manifest.Version))
            .ThenBy(p => p.Manifest.Kind)
            .ThenBy(p => p.PackageId, StringComparer.Ordinal)
            .ToImmutableArray());

    public Task<string> GetSigningKeyAsync() => Task.FromResult(signer.PublicKeyPem);

    private static bool SameImageOtherTerms(PackageRecord other, PackageMetadata metadata, string sha256) =>
        other.Manifest.Sha256 == sha256
        && (other.Manifest.SecurityVersion != metadata.SecurityVersion
            || !other.Manifest.RollbackFrom.Order(StringComparer.Ordinal).SequenceEqual(metadata.RollbackFrom.Order(StringComparer.Ordinal), StringComparer.Ordinal));

    /// <summary>The model on which <paramref name="other"/> occupies the same (model, version, kind, base) slot, if any.</summary>
    private static string? SameSlot(PackageRecord other, PackageMetadata metadata)
    {
        var m = other.Manifest;
        if (m.Kind != metadata.Kind || FirmwareVersion.Parse(m.Version) != FirmwareVersion.Parse(metadata.Version)
            || !string.Equals(m.BaseVersion, metadata.BaseVersion, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return metadata.Models.FirstOrDefault(m.Models.Contains);
    }

    /// <summary>
    /// Derived from what the package is, so the same upload always gets the same id. The signed rollback terms are
    /// part of what it is (they change the manifest); they join the key only when set, so older ids stay as they were.
    /// </summary>
    private static string PackageIdFor(PackageMetadata metadata, string sha256)
    {
        var key = string.Join('\n', metadata.Version, metadata.Kind, metadata.BaseVersion ?? "-",
            string.Join(',', metadata.Models.Order(StringComparer.Ordinal)), sha256);
        if (metadata.SecurityVersion != 0 || metadata.RollbackFrom.Length > 0)
        {
            key = string.Join('\n', key, metadata.SecurityVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
                string.Join(',', metadata.RollbackFrom.Order(StringComparer.Ordinal)));
        }

        return "pkg-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..20];
    }
}
