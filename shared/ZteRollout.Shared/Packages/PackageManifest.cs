using System.Collections.Immutable;

using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Shared.Packages;

/// <summary>Whether a package is a whole image or a delta against one base version.</summary>
[GenerateSerializer]
public enum PackageKind
{
    Full = 1,
    Delta = 2,
}

/// <summary>
/// The facts a device must trust about a package. The server signs its canonical bytes
/// (<see cref="ManifestCodec"/>); devices verify the signature before they read a field.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.PackageManifest")]
public sealed record PackageManifest(
    [property: Id(0)] string PackageId,
    [property: Id(1)] string Version,
    [property: Id(2)] ImmutableArray<string> Models,
    [property: Id(3)] PackageKind Kind,
    [property: Id(4)] string? BaseVersion,
    [property: Id(5)] long Size,
    [property: Id(6)] string Sha256)
{
    [Id(8)]
    private readonly ImmutableArray<string> _rollbackFrom;

    /// <summary>
    /// Anti-rollback floor (like Android's rollback index): a device that installed security version N refuses any
    /// package below N, whatever else the manifest says. 0 for a package that declares none.
    /// </summary>
    [Id(7)]
    public uint SecurityVersion { get; init; }

    /// <summary>
    /// Versions this package may replace although it is lower: the signed authorization of a downgrade. Empty for
    /// every package that is not a rollback package; a device refuses a version not above its own unless its
    /// current version is listed here.
    /// </summary>
    public ImmutableArray<string> RollbackFrom
    {
        get => _rollbackFrom.IsDefault ? [] : _rollbackFrom;
        init => _rollbackFrom = value;
    }

    /// <summary>
    /// For a delta the server generated: how to apply it (<see cref="ZstdPatch.Format"/>), null for a package applied
    /// as it is (a FULL image, or a delta built elsewhere whose format only its uploader knows).
    /// </summary>
    [Id(20)]
    public string? DeltaFormat { get; init; }

    /// <summary>SHA-256 of the base image a delta patches; the device checks its active slot against it before writing.</summary>
    [Id(21)]
    public string? BaseSha256 { get; init; }

    /// <summary>SHA-256 of the image a delta produces; the device checks the written slot against it.</summary>
    [Id(22)]
    public string? TargetSha256 { get; init; }

    /// <summary>zstd window log of a <c>zstd-patch-1</c> delta: the applier needs 2^log bytes of window.</summary>
    [Id(23)]
    public int WindowLog { get; init; }

    /// <summary>
    /// Id of the release key that signed the manifest (<see cref="ReleaseKeys.KeyId"/>): devices verify with that key
    /// only, and refuse a key they were not given. Null only in manifests signed before keys had ids.
    /// </summary>
    [Id(24)]
    public string? KeyId { get; init; }

    /// <summary>When the signature stops counting (like TUF's <c>expires</c>): servers refuse the upload and devices the offer after it.</summary>
    [Id(25)]
    public DateTimeOffset? Expires { get; init; }

    /// <summary>The same manifest without its signing terms (key id, expiry): what an upload's bytes and metadata determine.</summary>
    public PackageManifest WithoutSigningTerms() => this with { KeyId = null, Expires = null };

    /// <summary>Whether the manifest authorizes replacing <paramref name="current"/> with this (lower or equal) version.</summary>
    public bool AuthorizesDowngradeFrom(FirmwareVersion current) => AuthorizesDowngradeFrom(RollbackFrom, current);

    /// <summary>Whether <paramref name="rollbackFrom"/> (a manifest's list) names <paramref name="current"/>, compared as versions.</summary>
    public static bool AuthorizesDowngradeFrom(ImmutableArray<string> rollbackFrom, FirmwareVersion current)
    {
        foreach (var text in rollbackFrom.IsDefault ? [] : rollbackFrom)
        {
            if (FirmwareVersion.TryParse(text, out var from, out _) && from == current)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// Canonical encoding of a manifest: UTF-8 JSON, fields in a fixed order, no whitespace,
/// models and rollback versions sorted ordinally. The same manifest always yields the same bytes.
/// <c>securityVersion</c>, <c>rollbackFrom</c>, the delta fields, <c>keyId</c> and <c>expires</c> are written only when set, so a manifest without them has the
/// bytes (and signature) it had before they existed (docs/manifest.md).
/// </summary>
public static class ManifestCodec
{
    public const string Format = "zte-rollout-manifest/1";

    public static byte[] Encode(PackageManifest manifest)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("format", Format);
            json.WriteString("packageId", manifest.PackageId);
            json.WriteString("version", manifest.Version);
            json.WriteStartArray("models");
            foreach (var model in manifest.Models.Order(StringComparer.Ordinal))
            {
                json.WriteStringValue(model);
            }

            json.WriteEndArray();
            json.WriteString("kind", manifest.Kind == PackageKind.Full ? "FULL" : "DELTA");
            if (manifest.BaseVersion is not null)
            {
                json.WriteString("baseVersion", manifest.BaseVersion);
            }

            json.WriteNumber("size", manifest.Size);
            json.WriteString("sha256", manifest.Sha256);
            if (manifest.SecurityVersion != 0)
            {
                json.WriteNumber("securityVersion", manifest.SecurityVersion);
            }

            if (manifest.RollbackFrom.Length > 0)
            {
                json.WriteStartArray("rollbackFrom");
                foreach (var version in manifest.RollbackFrom.Order(StringComparer.Ordinal))
                {
                    json.WriteStringValue(version);
                }

                json.WriteEndArray();
            }

            if (manifest.DeltaFormat is not null)
            {
                // Generated deltas only: older manifests keep their bytes.
                json.WriteString("deltaFormat", manifest.DeltaFormat);
                json.WriteString("baseSha256", manifest.BaseSha256);
                json.WriteString("targetSha256", manifest.TargetSha256);
                json.WriteNumber("windowLog", manifest.WindowLog);
            }

            if (manifest.KeyId is not null)
            {
                json.WriteString("keyId", manifest.KeyId);
            }

            if (manifest.Expires is { } expires)
            {
                // Whole seconds in UTC, one spelling: the bytes stay canonical.
                json.WriteString("expires", expires.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            }

            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Reads canonical manifest bytes; throws <see cref="FormatException"/> for anything else.</summary>
    public static PackageManifest Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes.ToArray());
            var root = doc.RootElement;
            if (root.GetProperty("format").GetString() != Format)
            {
                throw new FormatException($"Manifest format is not {Format}.");
            }

            var kind = root.GetProperty("kind").GetString() switch
            {
                "FULL" => PackageKind.Full,
                "DELTA" => PackageKind.Delta,
                var other => throw new FormatException($"Manifest kind '{other}' is unknown."),
            };
            return new PackageManifest(
                root.GetProperty("packageId").GetString() ?? throw new FormatException("packageId is null."),
                root.GetProperty("version").GetString() ?? throw new FormatException("version is null."),
                [.. root.GetProperty("models").EnumerateArray().Select(m => m.GetString() ?? throw new FormatException("model is null."))],
                kind,
                root.TryGetProperty("baseVersion", out var b) ? b.GetString() : null,
                root.GetProperty("size").GetInt64(),
                root.GetProperty("sha256").GetString() ?? throw new FormatException("sha256 is null."))
            {
                SecurityVersion = root.TryGetProperty("securityVersion", out var security) ? security.GetUInt32() : 0,
                RollbackFrom = root.TryGetProperty("rollbackFrom", out var from)
                    ? [.. from.EnumerateArray().Select(v => v.GetString() ?? throw new FormatException("rollbackFrom version is null."))]
                    : [],
                DeltaFormat = root.TryGetProperty("deltaFormat", out var format) ? format.GetString() : null,
                BaseSha256 = root.TryGetProperty("baseSha256", out var baseSha) ? baseSha.GetString() : null,
                TargetSha256 = root.TryGetProperty("targetSha256", out var targetSha) ? targetSha.GetString() : null,
                WindowLog = root.TryGetProperty("windowLog", out var window) ? window.GetInt32() : 0,
                KeyId = root.TryGetProperty("keyId", out var keyId) ? keyId.GetString() : null,
                Expires = root.TryGetProperty("expires", out var expires) ? ParseExpiry(expires.GetString()) : null,
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException("Manifest is not valid canonical JSON: " + e.Message, e);
        }
    }

    private static DateTimeOffset ParseExpiry(string? text) =>
        DateTimeOffset.TryParseExact(text, "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var expires)
            ? expires
            : throw new FormatException($"Manifest expires '{text}' is not a UTC time like 2027-01-31T00:00:00Z.");
}

/// <summary>Manifest signatures: ECDSA over P-256 with SHA-256, signature as IEEE P1363 (r‖s, 64 bytes).</summary>
public static class ManifestSignature
{
    public const string Algorithm = "ECDSA-P256-SHA256";

    public static bool Verify(ReadOnlySpan<byte> manifest, ReadOnlySpan<byte> signature, string publicKeyPem)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(publicKeyPem);
        return key.VerifyData(manifest, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>Hex SHA-256 of the key's SubjectPublicKeyInfo, to compare keys out of band.</summary>
    public static string Fingerprint(string publicKeyPem)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(publicKeyPem);
        return Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));
    }
}
