using System.Security.Cryptography;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Fuzz;

/// <summary>
/// A manifest and signature as a device gets them in an offer (the last 64 bytes are the signature): the signature
/// check answers false for bytes the key never signed, and decoding refuses anything but a manifest with a
/// <see cref="FormatException"/>. A decoded manifest re-encodes to canonical bytes that decode to the same manifest.
/// </summary>
public static class ManifestHarness
{
    private const int SignatureLength = 64;
    private static readonly string TrustedKeyPem = CreateKey();

    public static void Run(byte[] input)
    {
        var split = Math.Max(0, input.Length - SignatureLength);
        var manifestBytes = input.AsSpan(0, split);
        var signature = input.AsSpan(split);
        if (ManifestSignature.Verify(manifestBytes, signature, TrustedKeyPem))
        {
            throw new BrokenInvariantException("a signature nobody made verified");
        }

        Decode(input);
        Decode(manifestBytes.ToArray());
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
