using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace ZteRollout.Shared.Devices;

/// <summary>The A/B slot a device boots from.</summary>
[GenerateSerializer]
public enum BootSlot
{
    Unspecified = 0,
    A = 1,
    B = 2,
}

/// <summary>What a device reports about itself at check-in.</summary>
[GenerateSerializer, Immutable, Alias("zte.DeviceFacts")]
public sealed record DeviceFacts(
    [property: Id(0)] string Model,
    [property: Id(1)] string HardwareRevision,
    [property: Id(2)] string Region,
    [property: Id(3)] string Carrier,
    [property: Id(4)] string CurrentVersion,
    [property: Id(5)] BootSlot ActiveSlot,
    [property: Id(6)] int BatteryPercent,
    [property: Id(7)] long FreeStorageBytes,
    [property: Id(8)] string AgentVersion)
{
    /// <summary>True when the facts that decide eligibility differ (battery and storage change every poll).</summary>
    public bool IdentityDiffers(DeviceFacts other) =>
        Model != other.Model || HardwareRevision != other.HardwareRevision || Region != other.Region
        || Carrier != other.Carrier || CurrentVersion != other.CurrentVersion || ActiveSlot != other.ActiveSlot
        || AgentVersion != other.AgentVersion;
}

/// <summary>Status of one offer on the install lifecycle (DESIGN.md, device install lifecycle).</summary>
[GenerateSerializer]
public enum OfferStatus
{
    Offered = 1,
    Downloading = 2,
    Downloaded = 3,
    Verified = 4,
    Installing = 5,
    Installed = 6,
    Succeeded = 7,
    Failed = 8,
    RolledBack = 9,
    TimedOut = 10,
    Canceled = 11,
}

/// <summary>The rules of the install lifecycle, kept apart from any grain so they are tested directly.</summary>
public static class InstallLifecycle
{
    public static bool IsTerminal(OfferStatus status) => status >= OfferStatus.Succeeded;

    /// <summary>Failures spend an attempt of the retry budget and count against the halt policy.</summary>
    public static bool IsFailure(OfferStatus status) =>
        status is OfferStatus.Failed or OfferStatus.RolledBack or OfferStatus.TimedOut;

    /// <summary>
    /// Whether a device may report <paramref name="next"/> while its offer is <paramref name="current"/>.
    /// Steps up to INSTALLED move forward only (a device may skip reporting some);
    /// DOWNLOADING may repeat to report progress; SUCCEEDED and ROLLED_BACK come only after INSTALLED,
    /// because installed is not succeeded; FAILED ends any open offer.
    /// </summary>
    public static bool CanMove(OfferStatus current, OfferStatus next)
    {
        if (IsTerminal(current))
        {
            return false;
        }

        return next switch
        {
            OfferStatus.Downloading => current is OfferStatus.Offered or OfferStatus.Downloading,
            OfferStatus.Downloaded or OfferStatus.Verified or OfferStatus.Installing or OfferStatus.Installed => next > current,
            OfferStatus.Succeeded or OfferStatus.RolledBack => current == OfferStatus.Installed,
            OfferStatus.Failed => true,
            _ => false,
        };
    }
}

/// <summary>Device ids and the bearer tokens bound to them.</summary>
public static class DeviceIdentity
{
    public const int MaxIdLength = 128;

    /// <summary>Tokens of the first format: the device id and a random secret, checked only by the device grain.</summary>
    public const string UnsignedTokenPrefix = "zdt1";

    /// <summary>
    /// Tokens whose secret carries a MAC by the gateways' device-token key (gateway/ZteRollout.Gateway/Auth/DeviceTokenMac.cs),
    /// so a gateway refuses a token the server did not issue without asking any grain.
    /// </summary>
    public const string SignedTokenPrefix = "zdt2";

    private const string TokenPrefix = UnsignedTokenPrefix;

    /// <summary>Returns null when the id is acceptable, else what is wrong with it.</summary>
    public static string? ValidateId(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return "must not be empty";
        }

        if (id.Length > MaxIdLength)
        {
            return $"must be at most {MaxIdLength} characters";
        }

        foreach (var c in id)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return $"has '{c}'; only A-Z a-z 0-9 . _ - are allowed";
            }
        }

        return null;
    }

    /// <summary>
    /// A fresh unsigned (first-format) token: the device id and 32 random bytes. Gateways issue signed tokens instead
    /// and accept these only with <c>Rollout:Gateway:AcceptUnsignedDeviceTokens</c> (docs/security.md, migration).
    /// </summary>
    public static string NewToken(string deviceId) =>
        $"{TokenPrefix}:{deviceId}:{Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32))}";

    /// <summary>Splits a token into the device id it claims and its secret; false when it is not a device token.</summary>
    public static bool TryParseToken(string? token, out string deviceId, out string secret)
    {
        deviceId = secret = string.Empty;
        if (token is null)
        {
            return false;
        }

        var parts = token.Split(':');
        if (parts.Length != 3 || parts[0] is not (UnsignedTokenPrefix or SignedTokenPrefix) || ValidateId(parts[1]) is not null || parts[2].Length < 16)
        {
            return false;
        }

        deviceId = parts[1];
        secret = parts[2];
        return true;
    }

    /// <summary>
    /// The stored form of a secret. The secret has 256 bits of entropy, so a single SHA-256 is as hard to invert
    /// as the secret is to guess; a slow password hash would only slow every device call.
    /// </summary>
    public static byte[] HashSecret(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public static bool SecretMatches(ReadOnlySpan<byte> storedHash, ReadOnlySpan<byte> presentedHash) =>
        CryptographicOperations.FixedTimeEquals(storedHash, presentedHash);
}
