using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ZteRollout.Shared;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Silo.Packages;

/// <summary>
/// The silo's online release key (<see cref="SigningOptions.OnlineKey"/>): a convenience for the embedded quick start
/// and for server-generated deltas, not the offline-grade path. The key is generated on first start into
/// <c>{data}/keys/manifest-signing.pem</c> (owner-only) with its public half beside it; the package catalog trusts it.
/// With the online key off, this signs nothing and every upload must bring a manifest signed offline.
/// </summary>
public sealed class ManifestSigner : IDisposable
{
    private readonly Lazy<ECDsa>? _key;
    private readonly TimeSpan _lifetime;

    public ManifestSigner(IOptions<RolloutSiloOptions> options, IOptions<SigningOptions> signing)
    {
        _lifetime = signing.Value.OnlineManifestLifetime;
        if (signing.Value.OnlineKey)
        {
            var keyDirectory = Path.Combine(options.Value.DataDirectory, "keys");
            _key = new Lazy<ECDsa>(() => LoadOrCreate(keyDirectory), LazyThreadSafetyMode.ExecutionAndPublication);
        }
    }

    public bool IsOnline => _key is not null;

    /// <summary>The online key's public half, PEM; null with the online key off.</summary>
    public string? PublicKeyPem => _key?.Value.ExportSubjectPublicKeyInfoPem();

    /// <summary>Signs <paramref name="manifest"/> with the online key, valid for <see cref="SigningOptions.OnlineManifestLifetime"/> from <paramref name="now"/>.</summary>
    /// <exception cref="InvalidOperationException">With the online key off.</exception>
    public SignedEnvelope Sign(PackageManifest manifest, DateTimeOffset now) =>
        ManifestTrust.Sign(manifest, _key?.Value ?? throw new InvalidOperationException("This silo holds no online signing key."), now + _lifetime);

    public void Dispose()
    {
        if (_key is { IsValueCreated: true })
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
