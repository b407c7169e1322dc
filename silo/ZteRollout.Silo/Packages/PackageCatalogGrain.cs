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
    RolloutClock clock,
    Microsoft.Extensions.Options.IOptions<DeltaOptions> deltaOptions) : Grain, IPackageCatalogGrain
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
        else if (deltaOptions.Value.GenerateOnUpload && DeltaBasesOf(record) is { Length: > 0 } pairs)
        {
            // Recorded now, built in the background: the upload's answer does not wait for any delta.
            await GrainFactory.GetGrain<IDeltaGenerationGrain>(0).RequestAsync(pairs, "upload");
        }

        return record;
    }

    public async Task<PackageRecord> RegisterGeneratedDeltaAsync(DeltaJob job, long size, string sha256, int windowLog)
    {
        var packages = state.State.Packages;
        var basePackage = packages.GetValueOrDefault(job.BasePackageId)
            ?? throw RolloutException.NotFound($"base package '{job.BasePackageId}' does not exist");
        var target = packages.GetValueOrDefault(job.TargetPackageId)
            ?? throw RolloutException.NotFound($"target package '{job.TargetPackageId}' does not exist");
        var t = target.Metadata;
        var metadata = new PackageMetadata(t.Version, target.Manifest.Models, PackageKind.Delta, basePackage.Manifest.Version,
            t.RequiredFreeBytes, t.MinBatteryPercent, t.ReleaseNotes)
        {
            SecurityVersion = t.SecurityVersion,
        };
        var packageId = PackageIdFor(metadata, sha256);
        if (packages.TryGetValue(packageId, out var existing))
        {
            return existing;
        }

        foreach (var other in packages.Values)
        {
            if (SameSlot(other, metadata) is { } model)
            {
                throw RolloutException.AlreadyExists(
                    $"package '{other.PackageId}' already is the DELTA {metadata.Version} from {metadata.BaseVersion} for model '{model}'");
            }
        }

        var manifest = new PackageManifest(packageId, metadata.Version, metadata.Models, PackageKind.Delta, metadata.BaseVersion, size, sha256)
        {
            SecurityVersion = metadata.SecurityVersion,
            DeltaFormat = ZstdPatch.Format,
            BaseSha256 = basePackage.Manifest.Sha256,
            TargetSha256 = target.Manifest.Sha256,
            WindowLog = windowLog,
        };
        var bytes = ManifestCodec.Encode(manifest);
        var record = new PackageRecord(manifest, metadata, bytes, signer.Sign(bytes), clock.UtcNow);
        packages[packageId] = record;
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<ICampaignDirectoryGrain>(0).PackageAddedAsync(record);
        return record;
    }

    /// <summary>
    /// The pairs an uploaded FULL package gets deltas from: the newest few older FULL versions sharing one of its
    /// models, other bytes than its own.
    /// </summary>
    private ImmutableArray<DeltaPair> DeltaBasesOf(PackageRecord full)
    {
        var version = FirmwareVersion.Parse(full.Manifest.Version);
        return [.. state.State.Packages.Values
            .Where(p => p.Manifest.Kind == PackageKind.Full && p.Manifest.Sha256 != full.Manifest.Sha256
                && p.Manifest.Models.Any(full.Manifest.Models.Contains)
                && FirmwareVersion.Parse(p.Manifest.Version) < version)
            .OrderByDescending(p => FirmwareVersion.Parse(p.Manifest.Version))
            .ThenBy(p => p.PackageId, StringComparer.Ordinal)
            .Take(Math.Max(0, deltaOptions.Value.PreviousVersions))
            .Select(p => new DeltaPair(p, full))];
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
