using System.Collections.Immutable;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Silo.Packages;

/// <summary>
/// The trust store of release keys, over the package catalog's state (which persists it): which keys may sign
/// manifests, how rotation statements change that, and whether a signed upload is acceptable. The catalog grain
/// writes the state after any change this reports.
/// </summary>
internal sealed class ReleaseKeyStore(Dictionary<string, ReleaseKey> keys)
{
    /// <summary>Trusted key id → public key PEM.</summary>
    public IReadOnlyDictionary<string, string> Trusted =>
        keys.Values.Where(k => k.IsTrusted).ToDictionary(k => k.KeyId, k => k.PublicKeyPem, StringComparer.Ordinal);

    public ImmutableArray<ReleaseKey> All => [.. keys.Values.OrderBy(k => k.AddedAt).ThenBy(k => k.KeyId, StringComparer.Ordinal)];

    public bool IsTrusted(string keyId) => keys.TryGetValue(keyId, out var key) && key.IsTrusted;

    /// <summary>
    /// Adds a key from configuration or the online key, unless it is known already. A revoked key stays revoked even
    /// when configuration still lists it: a rotation statement is the later word. True when the store changed.
    /// </summary>
    public bool Seed(string publicKeyPem, string source, DateTimeOffset now)
    {
        var pem = ReleaseKeys.NormalizePublicPem(publicKeyPem);
        var id = ReleaseKeys.KeyId(pem);
        if (keys.ContainsKey(id))
        {
            return false;
        }

        keys[id] = new ReleaseKey(id, pem, source, now);
        return true;
    }

    /// <summary>Applies a rotation statement; throws InvalidArgument naming the field when it is not acceptable. True when the store changed.</summary>
    public bool Apply(byte[] statementBytes, byte[] signature, DateTimeOffset now)
    {
        KeyRotationStatement statement;
        try
        {
            statement = KeyRotationStatement.Decode(statementBytes);
        }
        catch (FormatException e)
        {
            throw RolloutException.InvalidField("statement", e.Message);
        }

        if (!keys.TryGetValue(statement.SignedBy, out var signer))
        {
            throw RolloutException.InvalidField("statement.signed_by",
                $"key {statement.SignedBy} is not a trusted release key; a new key must be introduced by one that is (trusted: {TrustedList()})");
        }

        if (!KeyRotationStatement.SignatureVerifies(statementBytes, signature, signer.PublicKeyPem))
        {
            throw RolloutException.InvalidField("signature", $"does not verify with key {signer.KeyId}, which the statement names as its signer");
        }

        if (IsTrusted(statement.NewKeyId) && statement.Revokes.All(id => keys.TryGetValue(id, out var k) && !k.IsTrusted))
        {
            // Applied already (a retry, or a replay after the signer retired itself): nothing to change.
            return false;
        }

        if (!signer.IsTrusted)
        {
            throw RolloutException.InvalidField("statement.signed_by", $"key {signer.KeyId} was revoked; a new key must be introduced by a trusted one (trusted: {TrustedList()})");
        }

        var newId = statement.NewKeyId;
        if (statement.Revokes.Contains(newId))
        {
            throw RolloutException.InvalidField("statement.revokes", $"names the key the statement introduces ({newId})");
        }

        if (keys.TryGetValue(newId, out var known) && !known.IsTrusted)
        {
            throw RolloutException.InvalidField("statement.new_public_key", $"key {newId} was revoked and is never trusted again");
        }

        if (statement.Revokes.FirstOrDefault(id => !keys.ContainsKey(id)) is { } unknown)
        {
            throw RolloutException.InvalidField("statement.revokes", $"key {unknown} is not a release key this server knows");
        }

        var changed = false;
        if (known is null)
        {
            keys[newId] = new ReleaseKey(newId, statement.NewPublicKeyPem, $"rotation statement signed by {signer.KeyId}", now);
            changed = true;
        }

        foreach (var id in statement.Revokes)
        {
            if (keys[id].IsTrusted)
            {
                keys[id] = keys[id] with { RevokedAt = now, RevokedBy = signer.KeyId };
                changed = true;
            }
        }

        return changed;
    }

    /// <summary>
    /// The manifest of a signed upload, when a trusted key signed it, it has not expired, and it describes exactly
    /// <paramref name="expected"/> (what the uploaded bytes and metadata determine); InvalidArgument naming the field otherwise.
    /// </summary>
    public PackageManifest AcceptUpload(byte[] manifest, byte[] signature, PackageManifest expected, DateTimeOffset now)
    {
        var (verdict, signed) = ManifestTrust.Judge(manifest, signature, Trusted, now);
        switch (verdict)
        {
            case ManifestVerdict.Malformed:
                throw RolloutException.InvalidField("manifest", "signed, but not a canonical manifest (" + ManifestCodec.Format + ")");
            case ManifestVerdict.UnknownKey:
                throw RolloutException.InvalidField("manifest.key_id",
                    $"{ClaimedKeyId(manifest) ?? "(none)"} is not a trusted release key (trusted: {TrustedList()}); introduce a key with `zte-rollout packages trust-key`");
            case ManifestVerdict.BadSignature:
                throw RolloutException.InvalidField("manifest.signature",
                    $"does not verify with the trusted key {ClaimedKeyId(manifest) ?? "(none)"} the manifest names");
            case ManifestVerdict.NoExpiry:
                throw RolloutException.InvalidField("manifest.expires", "is required: sign the manifest with `zte-rollout packages sign`, which sets it");
            case ManifestVerdict.Expired:
                throw RolloutException.InvalidField("manifest.expires",
                    $"{signed!.Expires:yyyy-MM-dd'T'HH:mm:ss'Z'} has passed (now {now.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}); sign the manifest again");
        }

        if (FirstDifference(signed!.WithoutSigningTerms(), expected) is { } field)
        {
            throw RolloutException.InvalidField(field.Name,
                $"the signed manifest says {field.Signed}, the upload {field.Uploaded}: sign the manifest for these bytes and this metadata");
        }

        return signed;
    }

    private string TrustedList() => string.Join(", ", keys.Values.Where(k => k.IsTrusted).Select(k => k.KeyId[..16] + "…"));

    private static string? ClaimedKeyId(byte[] manifest)
    {
        try
        {
            return ManifestCodec.Decode(manifest).KeyId;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static (string Name, string Signed, string Uploaded)? FirstDifference(PackageManifest signed, PackageManifest uploaded)
    {
        static string Models(PackageManifest m) => string.Join(",", m.Models.Order(StringComparer.Ordinal));
        static string From(PackageManifest m) => string.Join(",", m.RollbackFrom.Order(StringComparer.Ordinal));
        (string, string, string)[] fields =
        [
            ("manifest.sha256", signed.Sha256, uploaded.Sha256),
            ("manifest.size", signed.Size.ToString(System.Globalization.CultureInfo.InvariantCulture), uploaded.Size.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("metadata.version", signed.Version, uploaded.Version),
            ("metadata.target_models", Models(signed), Models(uploaded)),
            ("metadata.kind", signed.Kind.ToString(), uploaded.Kind.ToString()),
            ("metadata.base_version", signed.BaseVersion ?? "", uploaded.BaseVersion ?? ""),
            ("metadata.security_version", signed.SecurityVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), uploaded.SecurityVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("metadata.rollback_from", From(signed), From(uploaded)),
            ("manifest.package_id", signed.PackageId, uploaded.PackageId),
        ];
        foreach (var (name, a, b) in fields)
        {
            if (a != b)
            {
                return (name, a.Length == 0 ? "(none)" : a, b.Length == 0 ? "(none)" : b);
            }
        }

        // Anything else a manifest may carry (delta fields) is not what an upload declares.
        return ManifestCodec.Encode(signed).AsSpan().SequenceEqual(ManifestCodec.Encode(uploaded))
            ? null
            : ("manifest", "fields an upload does not declare", "none");
    }
}
