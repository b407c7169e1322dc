using System.Collections.Immutable;
using System.Security.Cryptography;
using Google.Protobuf;
using ZteRollout.Admin.V1;
using ZteRollout.Shared.Packages;
using SharedMetadata = ZteRollout.Shared.Packages.PackageMetadata;
using SharedKind = ZteRollout.Shared.Packages.PackageKind;
using PackageMetadata = ZteRollout.Admin.V1.PackageMetadata;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>Release keys and offline-signed manifests for tests, made the way `zte-rollout packages sign` makes them.</summary>
public static class TestSigning
{
    /// <summary>
    /// Lifetime of manifests the test nodes' online key signs: they sign on fake clocks fixed in 2026 (or 2000) while
    /// agents judge expiry on the wall clock, so manifests must outlive any date the tests run on.
    /// </summary>
    public static readonly TimeSpan OnlineManifestLifetime = TimeSpan.FromDays(36500);

    /// <summary>A release key's public half written to <paramref name="path"/> (as keygen's FILE.pub.pem); returns it.</summary>
    public static string WritePublicKey(ECDsa key, string path)
    {
        var pem = key.ExportSubjectPublicKeyInfoPem();
        File.WriteAllText(path, pem);
        return pem;
    }

    /// <summary>The node's online key, read from its data directory (the embedded default keeps it there).</summary>
    public static ECDsa OnlineKey(string dataDirectory) =>
        ReleaseKeys.ImportPrivate(File.ReadAllText(Path.Combine(dataDirectory, "keys", "manifest-signing.pem")));

    /// <summary>The manifest the server computes for <paramref name="metadata"/> and <paramref name="bytes"/>, signed by <paramref name="key"/>.</summary>
    public static SignedEnvelope Sign(PackageMetadata metadata, byte[] bytes, ECDsa key, DateTimeOffset expires) =>
        ManifestTrust.Sign(ManifestFor(metadata, bytes), key, expires);

    /// <summary><paramref name="metadata"/> carrying a manifest signed for <paramref name="bytes"/>, ready to upload.</summary>
    public static PackageMetadata SignedUpload(PackageMetadata metadata, byte[] bytes, ECDsa key, DateTimeOffset expires) =>
        Carrying(metadata, Sign(metadata, bytes, key, expires));

    public static PackageMetadata Carrying(PackageMetadata metadata, SignedEnvelope signed)
    {
        var upload = metadata.Clone();
        upload.SignedManifest = ByteString.CopyFrom(signed.Payload);
        upload.ManifestSignature = ByteString.CopyFrom(signed.Signature);
        return upload;
    }

    public static PackageManifest ManifestFor(PackageMetadata metadata, byte[] bytes) =>
        PackageIdentity.ManifestFor(
            new SharedMetadata(metadata.Version, [.. metadata.TargetModels],
                metadata.Kind == Admin.V1.PackageKind.Delta ? SharedKind.Delta : SharedKind.Full,
                metadata.BaseVersion.Length > 0 ? metadata.BaseVersion : null,
                (long)metadata.RequiredFreeBytes, (int)metadata.MinBatteryPercent, metadata.ReleaseNotes)
            {
                SecurityVersion = metadata.SecurityVersion,
                RollbackFrom = [.. metadata.RollbackFrom],
            },
            bytes.LongLength,
            Convert.ToHexStringLower(SHA256.HashData(bytes)));

    public static ImmutableArray<string> Pems(params ECDsa[] keys) => [.. keys.Select(k => k.ExportSubjectPublicKeyInfoPem())];
}
