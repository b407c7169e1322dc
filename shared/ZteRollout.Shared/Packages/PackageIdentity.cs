using System.Security.Cryptography;
using System.Text;

namespace ZteRollout.Shared.Packages;

/// <summary>
/// What a package's id and manifest are, given what its uploader declares and its bytes. The server computes them on
/// upload and a release manager's machine computes the same before signing (<c>zte-rollout packages sign</c>).
/// </summary>
public static class PackageIdentity
{
    /// <summary>The unsigned manifest of an uploaded package (no key id or expiry yet).</summary>
    public static PackageManifest ManifestFor(PackageMetadata metadata, long size, string sha256) =>
        new(IdFor(metadata, sha256), metadata.Version, metadata.Models, metadata.Kind, metadata.BaseVersion, size, sha256)
        {
            SecurityVersion = metadata.SecurityVersion,
            RollbackFrom = metadata.RollbackFrom,
        };

    /// <summary>
    /// Derived from what the package is, so the same upload always gets the same id. The signed rollback terms are
    /// part of what it is (they change the manifest); they join the key only when set, so older ids stay as they were.
    /// </summary>
    public static string IdFor(PackageMetadata metadata, string sha256)
    {
        var key = string.Join('\n', metadata.Version, metadata.Kind, metadata.BaseVersion ?? "-",
            string.Join(',', metadata.Models.Order(StringComparer.Ordinal)), sha256);
        if (metadata.SecurityVersion != 0 || metadata.RollbackFrom.Length > 0)
        {
            key = string.Join('\n', key, metadata.SecurityVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
                string.Join(',', metadata.RollbackFrom.Order(StringComparer.Ordinal)));
        }

        return "pkg-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..20];
    }
}
