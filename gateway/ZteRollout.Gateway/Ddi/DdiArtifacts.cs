using System.Collections.Concurrent;
using ZteRollout.Gateway.Blobs;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Ddi;

/// <summary>What a DDI agent is told about a package's one artifact.</summary>
public sealed record DdiArtifact(string PackageId, string FileName, string Version, long Size, string Sha256, string Sha1, string Md5);

/// <summary>
/// Artifact descriptions by package id. A package never changes once stored, so each is read from the catalog and
/// the blob store once per gateway and kept.
/// </summary>
public sealed class DdiArtifacts(IGrainFactory grains, BlobStore blobs)
{
    private readonly ConcurrentDictionary<string, DdiArtifact> _known = new(StringComparer.Ordinal);

    public async ValueTask<DdiArtifact> GetAsync(string packageId, CancellationToken cancellationToken)
    {
        if (_known.TryGetValue(packageId, out var known))
        {
            return known;
        }

        var package = await grains.GetGrain<IPackageCatalogGrain>(0).GetAsync(packageId)
            ?? throw DdiProblem.NotFound($"package '{packageId}' no longer exists");
        BlobDigests digests;
        try
        {
            digests = await blobs.DigestsAsync(package.Manifest.Sha256, cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DdiProblem(500, "zte.ddi.dataLoss", $"package bytes {package.Manifest.Sha256} are missing from the blob store");
        }

        var artifact = new DdiArtifact(packageId, package.FileName, package.Manifest.Version, package.Manifest.Size, package.Manifest.Sha256, digests.Sha1, digests.Md5);
        _known.TryAdd(packageId, artifact);
        return artifact;
    }
}
