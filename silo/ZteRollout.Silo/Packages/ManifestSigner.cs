using System.Security.Cryptography;
using Microsoft.Extensions.Options;

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
        Directory.CreateDirectory(directory);

        // Write to a temp file and rename, so a crash never leaves half a key that would fail every later start.
        var temp = $"{privatePath}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temp, key.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        try
        {
            File.Move(temp, privatePath, overwrite: false);
        }
        catch (IOException) when (File.Exists(privatePath))
        {
            // Another silo sharing this directory created the key first: every silo must sign with the same key.
            File.Delete(temp);
            key.ImportFromPem(File.ReadAllText(privatePath));
            return key;
        }

        File.WriteAllText(Path.Combine(directory, "manifest-signing.pub.pem"), key.ExportSubjectPublicKeyInfoPem());
        return key;
    }
}
