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

    /// <summary>The trust store of release keys by key id (<see cref="ReleaseKeyStore"/>).</summary>
    [Id(1)]
    public Dictionary<string, ReleaseKey> ReleaseKeys { get; set; } = [];
}

/// <summary>Holds every package manifest; packages number in the hundreds, so one grain keeps them all.</summary>
public sealed class PackageCatalogGrain(
    [PersistentState("catalog", RolloutStorage.Name)] IPersistentState<PackageCatalogState> state,
    ManifestSigner signer,
    RolloutClock clock,
    Microsoft.Extensions.Options.IOptions<DeltaOptions> deltaOptions,
    Microsoft.Extensions.Options.IOptions<SigningOptions> signingOptions) : Grain, IPackageCatalogGrain
{
    private ReleaseKeyStore Keys => new(state.State.ReleaseKeys);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Keys from configuration and the online key join the trust store on first sight; later changes come only by
        // rotation statements, so a key they revoked stays revoked whatever configuration says.
        var now = clock.UtcNow;
        var changed = false;
        foreach (var pem in SigningOptions.ResolveTrustedKeys(signingOptions.Value.TrustedKeys))
        {
            changed |= Keys.Seed(pem, "configuration (Rollout:Signing:TrustedKeys)", now);
        }

        if (signer.PublicKeyPem is { } online)
        {
            changed |= Keys.Seed(online, "the silo's online key (Rollout:Signing:OnlineKey)", now);
        }

        if (changed)
        {
            await state.WriteStateAsync(cancellationToken);
        }
    }

    public async Task<PackageRecord> RegisterAsync(PackageMetadata metadata, long size, string sha256)
    {
        var manifest = PackageIdentity.ManifestFor(metadata, size, sha256);
        if (state.State.Packages.TryGetValue(manifest.PackageId, out var existing))
        {
            // The same package uploaded again (a retried upload): answer as the first time did.
            return existing;
        }

        if (signer.PublicKeyPem is not { } online)
        {
            throw RolloutException.InvalidField("manifest.signature",
                "is required: this server holds no online signing key (Rollout:Signing:OnlineKey is off); sign the manifest with "
                + "`zte-rollout packages sign` and upload with --manifest");
        }

        if (!Keys.IsTrusted(ReleaseKeys.KeyId(online)))
        {
            throw RolloutException.InvalidField("manifest.signature",
                "is required: the server's online key was revoked; sign the manifest with a trusted release key (`zte-rollout packages sign`)");
        }

        return await StoreAsync(metadata, manifest, signer.Sign(manifest, clock.UtcNow));
    }

    public async Task<PackageRecord> RegisterSignedAsync(PackageMetadata metadata, long size, string sha256, byte[] manifest, byte[] signature)
    {
        var signed = Keys.AcceptUpload(manifest, signature, PackageIdentity.ManifestFor(metadata, size, sha256), clock.UtcNow);
        if (state.State.Packages.TryGetValue(signed.PackageId, out var existing))
        {
            // The same package again, maybe signed again: the stored manifest stays what devices were offered.
            return existing;
        }

        return await StoreAsync(metadata, signed, new SignedEnvelope(manifest, signature));
    }

    public async Task<ImmutableArray<ReleaseKey>> TrustKeyAsync(byte[] statement, byte[] signature)
    {
        if (Keys.Apply(statement, signature, clock.UtcNow))
        {
            await state.WriteStateAsync();
        }

        return Keys.All;
    }

    public Task<ImmutableArray<ReleaseKey>> ListReleaseKeysAsync() => Task.FromResult(Keys.All);

    /// <summary>Checks the package's slot, stores it with its signed manifest, and tells deltas and campaigns.</summary>
    private async Task<PackageRecord> StoreAsync(PackageMetadata metadata, PackageManifest manifest, SignedEnvelope signed)
    {
        var packageId = manifest.PackageId;
        var sha256 = manifest.Sha256;

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

        var record = new PackageRecord(ManifestCodec.Decode(signed.Payload), metadata, signed.Payload, signed.Signature, clock.UtcNow);
        state.State.Packages[packageId] = record;
        await state.WriteStateAsync();

        if (metadata.Kind == PackageKind.Delta)
        {
            // A delta for a running campaign's target version changes what devices should be offered.
            await GrainFactory.GetGrain<ICampaignDirectoryGrain>(0).PackageAddedAsync(record);
        }
        else if (deltaOptions.Value.GenerateOnUpload && signer.IsOnline && DeltaBasesOf(record) is { Length: > 0 } pairs)
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
        var packageId = PackageIdentity.IdFor(metadata, sha256);
        if (packages.TryGetValue(packageId, out var existing))
        {
            return existing;
        }

        if (!signer.IsOnline)
        {
            throw RolloutException.FailedPrecondition(
                "generated deltas are signed by the server's online key, and this server holds none (Rollout:Signing:OnlineKey is off); "
                + "build the delta yourself, sign it with `zte-rollout packages sign` and upload it");
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
        var signed = signer.Sign(manifest, clock.UtcNow);
        var record = new PackageRecord(ManifestCodec.Decode(signed.Payload), metadata, signed.Payload, signed.Signature, clock.UtcNow);
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

    public Task<string?> GetSigningKeyAsync() => Task.FromResult(signer.PublicKeyPem);

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
}
