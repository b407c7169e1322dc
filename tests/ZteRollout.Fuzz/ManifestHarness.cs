using System.Security.Cryptography;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Fuzz;

/// <summary>
/// A manifest and signature as a device gets them in an offer (the last 64 bytes are the signature): the signature
/// check answers false for bytes the key never signed, and decoding refuses anything but a manifest with a
/// <see cref="FormatException"/>; the release-key judgement refuses it. A decoded manifest re-encodes to canonical bytes that decode to the same manifest.
/// </summary>
public static class ManifestHarness
{
    private const int SignatureLength = 64;
    private static readonly string TrustedKeyPem = CreateKey();

    /// <summary>The one release key the harnesses trust (key id → public PEM); the fuzzer cannot sign with it.</summary>
    public static IReadOnlyDictionary<string, string> TrustedKeys { get; } =
        new Dictionary<string, string> { [ReleaseKeys.KeyId(TrustedKeyPem)] = TrustedKeyPem };

    public static void Run(byte[] input)
    {
        var split = Math.Max(0, input.Length - SignatureLength);
        var manifestBytes = input.AsSpan(0, split);
        var signature = input.AsSpan(split);
        if (ManifestSignature.Verify(manifestBytes, signature, TrustedKeyPem))
        {
            throw new BrokenInvariantException("a signature nobody made verified");
        }

        RequireNotTrusted(manifestBytes, signature);

        Decode(input);
        Decode(manifestBytes.ToArray());
    }

    /// <summary>
    /// The release-key check (the server's upload check and the agent's): bytes and a signature the trusted key never
    /// made are refused, whatever key id or expiry they claim; judging never throws.
    /// </summary>
    public static void RequireNotTrusted(ReadOnlySpan<byte> manifest, ReadOnlySpan<byte> signature)
    {
        var (verdict, judged) = ManifestTrust.Judge(manifest, signature, TrustedKeys, DateTimeOffset.UnixEpoch);
        if (verdict is ManifestVerdict.Valid or ManifestVerdict.NoExpiry or ManifestVerdict.Expired || judged is not null)
        {
            throw new BrokenInvariantException($"a manifest nobody signed was judged {verdict}");
        }
    }

    private static void Decode(byte[] bytes)
    {
        PackageManifest manifest;
        try
        {
            manifest = ManifestCodec.Decode(bytes);
        }
        catch (FormatException)
        {
            return;
        }

        var canonical = ManifestCodec.Encode(manifest);
        var again = ManifestCodec.Encode(ManifestCodec.Decode(canonical));
        if (!canonical.AsSpan().SequenceEqual(again))
        {
            throw new BrokenInvariantException("canonical manifest bytes changed on a second round trip");
        }

        // What an agent does next with a manifest it accepted: compare its versions.
        if (FirmwareVersion.TryParse(manifest.Version, out var version, out _))
        {
            manifest.AuthorizesDowngradeFrom(version);
        }
    }

    private static string CreateKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportSubjectPublicKeyInfoPem();
    }
}
