using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ZteRollout.Shared;

namespace ZteRollout.Silo.Packages;

/// <summary>
/// Signs manifests with the server's ECDSA P-256 key. The key is generated on first start into
/// <c>{data}/keys/manifest-signing.pem</c> (owner-only) with its public half beside it for device images.
/// </summary>
public sealed class ManifestSigner : IDisposable
{
    private readonly Lazy<ECDsa> _key;

    public ManifestSigner(IOptions<RolloutSiloOptions> options)
    {
        var keyDirectory = Path.Combine(options.Value.DataDirectory, "keys");
        _key = new Lazy<ECDsa>(() => LoadOrCreate(keyDirectory), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public string PublicKeyPem => _key.Value.ExportSubjectPublicKeyInfoPem();

    public byte[] Sign(byte[] manifest) =>
        _key.Value.SignData(manifest, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    public void Dispose()
    {
        if (_key.IsValueCreated)
        {
            _key.Value.Dispose();
        }
    }

    private static ECDsa LoadOrCreate(string directory)
    {
        var privatePath = Path.Combine(directory, "manifest-signing.pem");
        var key = ECDsa.Create();
        if (File.Exists(privatePath))
        {
            key.ImportFromPem(File.ReadAllText(privatePath));
            return key;
        }

        key.GenerateKey(ECCurve.NamedCurves.nistP256);

        // Owner-only from its first byte, and whole or absent: a crash never leaves half a key that would fail every later start.
        if (!SecretFiles.TryCreate(privatePath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem())))
        {
            // Another silo sharing this directory created the key first: every silo must sign with the same key.
            key.ImportFromPem(File.ReadAllText(privatePath));
            return key;
        }

        File.WriteAllText(Path.Combine(directory, "manifest-signing.pub.pem"), key.ExportSubjectPublicKeyInfoPem());
        return key;
    }
}
