using System.Collections.Immutable;

namespace ZteRollout.Shared.Packages;

/// <summary>What a release manager declares about a package before its bytes arrive.</summary>
[GenerateSerializer, Immutable, Alias("zte.PackageMetadata")]
public sealed record PackageMetadata(
    [property: Id(0)] string Version,
    [property: Id(1)] ImmutableArray<string> Models,
    [property: Id(2)] PackageKind Kind,
    [property: Id(3)] string? BaseVersion,
    [property: Id(4)] long RequiredFreeBytes,
    [property: Id(5)] int MinBatteryPercent,
    [property: Id(6)] string ReleaseNotes)
{
    [Id(8)]
    private readonly ImmutableArray<string> _rollbackFrom;

    /// <summary>Signed into the manifest: see <see cref="PackageManifest.SecurityVersion"/>.</summary>
    [Id(7)]
    public uint SecurityVersion { get; init; }

    /// <summary>
    /// The file name devices see (hawkBit DDI artifacts: SWUpdate takes only <c>*.swu</c>); null when not given, then
    /// <see cref="PackageRecord.FileName"/> makes one up.
    /// </summary>
    [Id(20)]
    public string? FileName { get; init; }

    /// <summary>Signed into the manifest: see <see cref="PackageManifest.RollbackFrom"/>.</summary>
    public ImmutableArray<string> RollbackFrom
    {
        get => _rollbackFrom.IsDefault ? [] : _rollbackFrom;
        init => _rollbackFrom = value;
    }
}

/// <summary>A stored package: its metadata, its signed manifest and where its bytes are.</summary>
[GenerateSerializer, Immutable, Alias("zte.PackageRecord")]
public sealed record PackageRecord(
    [property: Id(0)] PackageManifest Manifest,
    [property: Id(1)] PackageMetadata Metadata,
    [property: Id(2)] byte[] ManifestBytes,
    [property: Id(3)] byte[] Signature,
    [property: Id(4)] DateTimeOffset CreatedAt)
{
    public string PackageId => Manifest.PackageId;

    /// <summary>The name the package's file goes by: as uploaded, else <c>{package id}.bin</c>.</summary>
    public string FileName => Metadata.FileName ?? PackageId + ".bin";
}
