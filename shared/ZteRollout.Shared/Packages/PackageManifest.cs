using System.Collections.Immutable;

using System.Security.Cryptography;
using System.Text.Json;

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
    [property: Id(6)] string Sha256);

/// <summary>
/// Canonical encoding of a manifest: UTF-8 JSON, fields in a fixed order, no whitespace,
/// models sorted ordinally. The same manifest always yields the same bytes.
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
                root.GetProperty("sha256").GetString() ?? throw new FormatException("sha256 is null."));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException("Manifest is not valid canonical JSON: " + e.Message, e);
        }
    }
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
