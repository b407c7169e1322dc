using System.Security.Cryptography;
using System.Text;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Tests.Domain;

/// <summary>How a server or device judges signed manifest bytes against the release keys it trusts.</summary>
public sealed class ManifestTrustTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 5, 12, 0, 0, TimeSpan.Zero);

    private readonly ECDsa _trusted = ReleaseKeys.Generate();
    private readonly ECDsa _stranger = ReleaseKeys.Generate();

    private Dictionary<string, string> Trusted => new() { [ReleaseKeys.KeyId(_trusted)] = _trusted.ExportSubjectPublicKeyInfoPem() };

    public void Dispose()
    {
        _trusted.Dispose();
        _stranger.Dispose();
    }

    [Fact]
    public void Judge_SignedByATrustedKeyBeforeItsExpiry_IsValid_AndReadsTheSignedTerms()
    {
        var signed = ManifestTrust.Sign(Manifest(), _trusted, Now.AddTicks(TimeSpan.TicksPerSecond + 1234));

        var (verdict, manifest) = ManifestTrust.Judge(signed.Payload, signed.Signature, Trusted, Now);

        Assert.Equal(ManifestVerdict.Valid, verdict);
        Assert.Equal((ReleaseKeys.KeyId(_trusted), Now.AddSeconds(1)), (manifest!.KeyId, manifest.Expires));
        Assert.Equal(ManifestCodec.Encode(Manifest()), ManifestCodec.Encode(manifest.WithoutSigningTerms()));
    }

    [Fact]
    public void Judge_SignedByAnUntrustedKey_IsUnknownKey()
    {
        var signed = ManifestTrust.Sign(Manifest(), _stranger, Now.AddDays(1));

        Assert.Equal(ManifestVerdict.UnknownKey, ManifestTrust.Judge(signed.Payload, signed.Signature, Trusted, Now).Verdict);
    }

    [Fact]
    public void Judge_NamingTheTrustedKeyButSignedByAnother_IsBadSignature()
    {
        var bytes = ManifestCodec.Encode(Manifest() with { KeyId = ReleaseKeys.KeyId(_trusted), Expires = Now.AddDays(1) });
        var signature = _stranger.SignData(bytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        Assert.Equal(ManifestVerdict.BadSignature, ManifestTrust.Judge(bytes, signature, Trusted, Now).Verdict);
    }

    [Fact]
    public void Judge_SignedByTheTrustedKeyButNamingNoKey_IsBadSignature()
    {
        // A manifest signed before keys had ids: its terms do not say which key vouches for them.
        var bytes = ManifestCodec.Encode(Manifest() with { Expires = Now.AddDays(1) });
        var signature = _trusted.SignData(bytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        Assert.Equal(ManifestVerdict.BadSignature, ManifestTrust.Judge(bytes, signature, Trusted, Now).Verdict);
    }

    [Fact]
    public void Judge_ATamperedManifest_IsBadSignature()
    {
        var signed = ManifestTrust.Sign(Manifest(), _trusted, Now.AddDays(1));
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(signed.Payload).Replace("\"size\":4096", "\"size\":4097", StringComparison.Ordinal));

        Assert.Equal(ManifestVerdict.BadSignature, ManifestTrust.Judge(tampered, signed.Signature, Trusted, Now).Verdict);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Judge_AtOrAfterItsExpiry_IsExpired(int secondsFromNow)
    {
        var signed = ManifestTrust.Sign(Manifest(), _trusted, Now.AddSeconds(secondsFromNow));

        Assert.Equal(ManifestVerdict.Expired, ManifestTrust.Judge(signed.Payload, signed.Signature, Trusted, Now).Verdict);
    }

    [Fact]
    public void Judge_WithoutAnExpiry_IsNoExpiry()
    {
        var bytes = ManifestCodec.Encode(Manifest() with { KeyId = ReleaseKeys.KeyId(_trusted) });
        var signature = _trusted.SignData(bytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        Assert.Equal(ManifestVerdict.NoExpiry, ManifestTrust.Judge(bytes, signature, Trusted, Now).Verdict);
    }

    [Fact]
    public void Encode_WithoutSigningTerms_KeepsTheBytesManifestsHadBefore()
    {
        Assert.Equal(
            "{\"format\":\"zte-rollout-manifest/1\",\"packageId\":\"pkg-1\",\"version\":\"MF1.1\",\"models\":[\"M1\"],\"kind\":\"FULL\",\"size\":4096,\"sha256\":\"" + new string('a', 64) + "\"}",
            Encoding.UTF8.GetString(ManifestCodec.Encode(Manifest())));
    }

    [Fact]
    public void RotationStatement_RoundTrips_AndItsNewKeyIdIsTheKeysOwn()
    {
        using var next = ReleaseKeys.Generate();
        var envelope = KeyRotationStatement.Sign(_trusted, next.ExportSubjectPublicKeyInfoPem(), [ReleaseKeys.KeyId(_trusted)], Now);

        var statement = KeyRotationStatement.Decode(SignedEnvelope.Parse(envelope.ToJson()).Payload);

        Assert.Equal((ReleaseKeys.KeyId(_trusted), ReleaseKeys.KeyId(next), ReleaseKeys.KeyId(_trusted)),
            (statement.SignedBy, statement.NewKeyId, statement.Revokes.Single()));
        Assert.True(KeyRotationStatement.SignatureVerifies(envelope.Payload, envelope.Signature, _trusted.ExportSubjectPublicKeyInfoPem()));
        var swapped = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(envelope.Payload)
            .Replace(ReleaseKeys.KeyId(next), ReleaseKeys.KeyId(_stranger), StringComparison.Ordinal));
        Assert.Throws<FormatException>(() => KeyRotationStatement.Decode(swapped));
    }

    private static PackageManifest Manifest() => new("pkg-1", "MF1.1", ["M1"], PackageKind.Full, null, 4096, new string('a', 64));
}
