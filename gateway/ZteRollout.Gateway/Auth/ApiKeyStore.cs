using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using ZteRollout.Shared;

namespace ZteRollout.Gateway.Auth;

/// <summary>A known admin key: its name (the actor in audit logs) and role.</summary>
public sealed record ApiKeyIdentity(string Name, string Role);

/// <summary>
/// The admin API keys this gateway accepts: those configured (by hash) plus the local bootstrap key file.
/// Lookups hash the presented key and compare against every entry in constant time.
/// </summary>
public sealed class ApiKeyStore
{
    public const string BootstrapFileName = RolloutDataDirectory.AdminKeyFileName;
    private const string KeyPrefix = "zak1_";
    private readonly List<(byte[] Hash, ApiKeyIdentity Identity)> _keys = [];

    public ApiKeyStore(IOptions<GatewayOptions> options)
    {
        foreach (var entry in options.Value.ApiKeys)
        {
            if (!RolloutAuth.Roles.All.Contains(entry.Role))
            {
                throw new InvalidOperationException(
                    $"API key '{entry.Name}' has role '{entry.Role}'; roles are {string.Join(", ", RolloutAuth.Roles.All)}.");
            }

            _keys.Add((Convert.FromHexString(entry.Sha256), new ApiKeyIdentity(entry.Name, entry.Role)));
        }

        var bootstrap = Path.Combine(options.Value.DataDirectory, BootstrapFileName);
        if (File.Exists(bootstrap))
        {
            _keys.Add((Hash(File.ReadAllText(bootstrap).Trim()), new ApiKeyIdentity("local-admin", RolloutAuth.Roles.Admin)));
        }
    }

    public static string NewKey() => KeyPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>
    /// Creates the local admin key on first start (owner-only file) and returns it; null when it already existed,
    /// so it is shown exactly once.
    /// </summary>
    public static string? EnsureBootstrapKey(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, BootstrapFileName);
        if (File.Exists(path))
        {
            return null;
        }

        var key = NewKey();
        return SecretFiles.TryCreate(path, Encoding.UTF8.GetBytes(key + "\n")) ? key : null;
    }

    public ApiKeyIdentity? Find(string presentedKey)
    {
        var hash = Hash(presentedKey);
        ApiKeyIdentity? found = null;

        // Visit every entry whatever matches, so timing does not tell how many keys were compared.
        foreach (var (known, identity) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(known, hash))
            {
                found = identity;
            }
        }

        return found;
    }
}
