using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ZteRollout.Shared.Packages;

/// <summary>
/// Release keys: ECDSA P-256 key pairs that sign manifests and rotation statements. A key is named by its id, the
/// lowercase hex SHA-256 of its SubjectPublicKeyInfo (the same value as <see cref="ManifestSignature.Fingerprint"/>).
/// </summary>
public static class ReleaseKeys
{
    public static ECDsa Generate() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public static string KeyId(ECDsa key) => Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    public static string KeyId(string publicKeyPem) => ManifestSignature.Fingerprint(publicKeyPem);

    /// <summary>Reads a private key PEM (PKCS#8, as <c>packages keygen</c> writes it); throws <see cref="FormatException"/> naming the problem.</summary>
    public static ECDsa ImportPrivate(string pem)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            _ = key.ExportParameters(includePrivateParameters: true);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException or PlatformNotSupportedException)
        {
            key.Dispose();
            throw new FormatException("not an ECDSA private key in PEM: " + e.Message, e);
        }

        return RequireP256(key);
    }

    /// <summary>Normalizes a public key PEM (SubjectPublicKeyInfo); throws <see cref="FormatException"/> for anything but a P-256 key.</summary>
    public static string NormalizePublicPem(string pem)
    {
        using var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException or PlatformNotSupportedException)
        {
            throw new FormatException("not an ECDSA public key in PEM: " + e.Message, e);
        }

        return RequireP256(key).ExportSubjectPublicKeyInfoPem();
    }

    private static ECDsa RequireP256(ECDsa key)
    {
        if (key.KeySize != 256)
        {
            key.Dispose();
            throw new FormatException($"release keys are ECDSA P-256; this key has {key.KeySize} bits");
        }

        return key;
    }

    internal static byte[] Sign(ECDsa key, byte[] payload) =>
        key.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    internal static bool Verifies(string publicKeyPem, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature)
    {
        try
        {
            return ManifestSignature.Verify(payload, signature, publicKeyPem);
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            return false;
        }
    }

    internal static string FormatTime(DateTimeOffset time) =>
        time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset WholeSeconds(DateTimeOffset time) =>
        new(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
}

/// <summary>
/// Signed bytes and their signature, as one file: <c>{"format":"zte-rollout-signed/1","payload":base64,"signature":base64}</c>.
/// The payload (a manifest, a rotation statement) names its own format inside; the signature covers exactly it.
/// </summary>
public sealed record SignedEnvelope(byte[] Payload, byte[] Signature)
{
    public const string Format = "zte-rollout-signed/1";

    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["format"] = Format,
        ["payload"] = Convert.ToBase64String(Payload),
        ["signature"] = Convert.ToBase64String(Signature),
    }, new JsonSerializerOptions { WriteIndented = true }) + "\n";

    /// <summary>Reads an envelope file; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static SignedEnvelope Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.GetProperty("format").GetString() != Format)
            {
                throw new FormatException($"signed file format is not {Format}");
            }

            return new SignedEnvelope(
                Convert.FromBase64String(root.GetProperty("payload").GetString() ?? throw new FormatException("payload is null")),
                Convert.FromBase64String(root.GetProperty("signature").GetString() ?? throw new FormatException("signature is null")));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException("not a signed file (" + Format + "): " + e.Message, e);
        }
    }
}

/// <summary>What a server or device concludes about signed manifest bytes; each refusal names one manifest field.</summary>
public enum ManifestVerdict
{
    Valid,
    Malformed,
    UnknownKey,
    BadSignature,
    NoExpiry,
    Expired,
}

/// <summary>Signing manifests with a release key, and judging signed manifests against a set of trusted keys.</summary>
public static class ManifestTrust
{
    /// <summary>Signs <paramref name="manifest"/> with <paramref name="key"/>: its key id and expiry (whole seconds) go into the signed bytes.</summary>
    public static SignedEnvelope Sign(PackageManifest manifest, ECDsa key, DateTimeOffset expires)
    {
        var bytes = ManifestCodec.Encode(manifest with { KeyId = ReleaseKeys.KeyId(key), Expires = ReleaseKeys.WholeSeconds(expires) });
        return new SignedEnvelope(bytes, ReleaseKeys.Sign(key, bytes));
    }

    /// <summary>
    /// Judges signed manifest bytes. No field is believed before a trusted key's signature covers it: the bytes are
    /// first checked against each trusted key, and only a manifest one of them signed, naming that same key, is read;
    /// when none signed it, the bytes are read only to tell an unknown key from a bad signature.
    /// </summary>
    /// <param name="trustedKeys">Key id → public key PEM.</param>
    public static (ManifestVerdict Verdict, PackageManifest? Manifest) Judge(
        ReadOnlySpan<byte> manifest, ReadOnlySpan<byte> signature, IReadOnlyDictionary<string, string> trustedKeys, DateTimeOffset now)
    {
        string? signerId = null;
        foreach (var (keyId, pem) in trustedKeys)
        {
            if (ReleaseKeys.Verifies(pem, manifest, signature))
            {
                signerId = keyId;
                break;
            }
        }

        PackageManifest decoded;
        try
        {
            decoded = ManifestCodec.Decode(manifest);
        }
        catch (FormatException)
        {
            return (signerId is null ? ManifestVerdict.BadSignature : ManifestVerdict.Malformed, null);
        }

        if (signerId is null)
        {
            return (decoded.KeyId is { } claimed && trustedKeys.ContainsKey(claimed) ? ManifestVerdict.BadSignature : ManifestVerdict.UnknownKey, null);
        }

        if (decoded.KeyId != signerId)
        {
            // Signed by a trusted key that the manifest does not name (or names none): the key id is part of the terms.
            return (decoded.KeyId is { } named && !trustedKeys.ContainsKey(named) ? ManifestVerdict.UnknownKey : ManifestVerdict.BadSignature, null);
        }

        if (decoded.Expires is not { } expires)
        {
            return (ManifestVerdict.NoExpiry, decoded);
        }

        return (expires <= now ? ManifestVerdict.Expired : ManifestVerdict.Valid, decoded);
    }
}

/// <summary>
/// Introduces a new release key (like TUF's root rotation): signed by a key already trusted, it names the new key's
/// public half and may revoke keys. Canonical JSON, fields in a fixed order, revoked ids sorted.
/// </summary>
public sealed record KeyRotationStatement(
    string SignedBy,
    string NewPublicKeyPem,
    ImmutableArray<string> Revokes,
    DateTimeOffset IssuedAt)
{
    public const string Format = "zte-rollout-key-rotation/1";

    public string NewKeyId => ReleaseKeys.KeyId(NewPublicKeyPem);

    public static SignedEnvelope Sign(ECDsa trustedKey, string newPublicKeyPem, IEnumerable<string> revokes, DateTimeOffset issuedAt)
    {
        var statement = new KeyRotationStatement(ReleaseKeys.KeyId(trustedKey), ReleaseKeys.NormalizePublicPem(newPublicKeyPem),
            [.. revokes.Distinct(StringComparer.Ordinal)], ReleaseKeys.WholeSeconds(issuedAt));
        var bytes = statement.Encode();
        return new SignedEnvelope(bytes, ReleaseKeys.Sign(trustedKey, bytes));
    }

    public byte[] Encode()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("format", Format);
            json.WriteString("signedBy", SignedBy);
            json.WriteString("newKeyId", NewKeyId);
            json.WriteString("newPublicKey", NewPublicKeyPem);
            json.WriteStartArray("revokes");
            foreach (var id in Revokes.Order(StringComparer.Ordinal))
            {
                json.WriteStringValue(id);
            }

            json.WriteEndArray();
            json.WriteString("issuedAt", ReleaseKeys.FormatTime(IssuedAt));
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Reads statement bytes; throws <see cref="FormatException"/> naming the problem (also when the new key's id is not its own).</summary>
    public static KeyRotationStatement Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes.ToArray());
            var root = doc.RootElement;
            if (root.GetProperty("format").GetString() != Format)
            {
                throw new FormatException($"statement format is not {Format}");
            }

            var statement = new KeyRotationStatement(
                root.GetProperty("signedBy").GetString() ?? throw new FormatException("signedBy is null"),
                ReleaseKeys.NormalizePublicPem(root.GetProperty("newPublicKey").GetString() ?? throw new FormatException("newPublicKey is null")),
                [.. root.GetProperty("revokes").EnumerateArray().Select(v => v.GetString() ?? throw new FormatException("a revoked key id is null"))],
                DateTimeOffset.Parse(root.GetProperty("issuedAt").GetString() ?? throw new FormatException("issuedAt is null"), CultureInfo.InvariantCulture));
            if (root.GetProperty("newKeyId").GetString() != statement.NewKeyId)
            {
                throw new FormatException("newKeyId is not the id of newPublicKey");
            }

            return statement;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException("not a key rotation statement: " + e.Message, e);
        }
    }

    /// <summary>Whether <paramref name="signature"/> over <paramref name="bytes"/> is by the key the statement says signed it.</summary>
    public static bool SignatureVerifies(ReadOnlySpan<byte> bytes, ReadOnlySpan<byte> signature, string signerPublicKeyPem) =>
        ReleaseKeys.Verifies(signerPublicKeyPem, bytes, signature);
}
