using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using ZteRollout.Shared;
using ZteRollout.Shared.Devices;

namespace ZteRollout.Gateway.Auth;

/// <summary>What a gateway can tell about a presented token on its own, before any grain call.</summary>
public enum DeviceTokenCheck
{
    /// <summary>Not a device token at all.</summary>
    Malformed,

    /// <summary>Shaped like a device token, but this server did not issue it (wrong MAC, unknown key, or an unsigned token while those are refused).</summary>
    Forged,

    /// <summary>Issued by this server (or an accepted unsigned token): the device grain still decides whether it is current.</summary>
    Issued,
}

/// <summary>
/// Issues and checks the MAC in device tokens: <c>zdt2:{device id}:{key id}.{nonce}.{tag}</c>, the tag being the first
/// 16 bytes of HMAC-SHA256 under the device-token key over everything before it. A gateway refuses a token whose tag
/// does not verify without calling a grain or reading storage, so forged tokens cost an HMAC and nothing else.
/// </summary>
/// <remarks>
/// The tag proves the server issued the token; the device grain still compares the whole secret's hash with the one it
/// stores, so a rotated credential stops working although its MAC stays valid. The key is the gateways' secret: taken
/// from <c>Rollout:Gateway:DeviceTokenKey</c> (base64, at least 32 bytes), else from <c>{data}/device-token-key</c>,
/// created owner-only on first start. Gateways of a cluster share it (they share the data directory, or the setting).
/// Keys listed in <c>Rollout:Gateway:PreviousDeviceTokenKeys</c> are still accepted, not used to issue: rotation.
/// </remarks>
public sealed class DeviceTokenMac
{
    public const string KeyFileName = "device-token-key";
    public const int MinKeyBytes = 32;
    private const int NonceBytes = 32;
    private const int TagBytes = 16;
    private const int KeyIdChars = 8;

    /// <summary>Longest token this format produces (device id at its longest), so longer input is refused unread.</summary>
    public const int MaxTokenChars = 5 + DeviceIdentity.MaxIdLength + 1 + KeyIdChars + 1 + 43 + 1 + 22;

    private readonly (string Id, byte[] Key) _current;
    private readonly Dictionary<string, byte[]> _accepted = new(StringComparer.Ordinal);
    private readonly bool _acceptUnsigned;

    public DeviceTokenMac(IOptions<GatewayOptions> options)
        : this(LoadKey(options.Value), options.Value.PreviousDeviceTokenKeys.Select(k => Decode(k, "Rollout:Gateway:PreviousDeviceTokenKeys")), options.Value.AcceptUnsignedDeviceTokens)
    {
    }

    public DeviceTokenMac(byte[] currentKey, IEnumerable<byte[]> previousKeys, bool acceptUnsigned)
    {
        _current = (KeyId(currentKey), currentKey);
        _accepted[_current.Id] = currentKey;
        foreach (var key in previousKeys)
        {
            _accepted.TryAdd(KeyId(key), key);
        }

        _acceptUnsigned = acceptUnsigned;
    }

    /// <summary>The id of the key new tokens are signed with (the first 8 hex digits of a hash of the key; not secret).</summary>
    public string CurrentKeyId => _current.Id;

    /// <summary>A fresh token for <paramref name="deviceId"/>, signed with the current key. Shown once; the grain stores the secret's hash.</summary>
    public string Issue(string deviceId)
    {
        var signed = $"{DeviceIdentity.SignedTokenPrefix}:{deviceId}:{_current.Id}.{Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(NonceBytes))}";
        Span<byte> tag = stackalloc byte[TagBytes];
        Tag(_current.Key, signed, tag);
        return signed + "." + Base64Url.EncodeToString(tag);
    }

    /// <summary>Whether this server issued <paramref name="token"/>; constant time in the tag comparison.</summary>
    public DeviceTokenCheck Check(string token)
    {
        if (token.Length > MaxTokenChars || !DeviceIdentity.TryParseToken(token, out _, out var secret))
        {
            return DeviceTokenCheck.Malformed;
        }

        if (token.StartsWith(DeviceIdentity.UnsignedTokenPrefix + ":", StringComparison.Ordinal))
        {
            return _acceptUnsigned ? DeviceTokenCheck.Issued : DeviceTokenCheck.Forged;
        }

        // secret = key id "." nonce "." tag
        var lastDot = token.LastIndexOf('.');
        if (secret.Length < KeyIdChars + 1 || secret[KeyIdChars] != '.' || lastDot < token.Length - secret.Length + KeyIdChars + 1
            || !_accepted.TryGetValue(secret[..KeyIdChars], out var key))
        {
            return DeviceTokenCheck.Forged;
        }

        Span<byte> presented = stackalloc byte[TagBytes + 2];
        var tagText = token.AsSpan(lastDot + 1);
        if (Base64Url.GetMaxDecodedLength(tagText.Length) > presented.Length
            || !Base64Url.TryDecodeFromChars(tagText, presented, out var written) || written != TagBytes)
        {
            return DeviceTokenCheck.Forged;
        }

        Span<byte> expected = stackalloc byte[TagBytes];
        Tag(key, token.AsSpan(0, lastDot), expected);
        return CryptographicOperations.FixedTimeEquals(expected, presented[..TagBytes]) ? DeviceTokenCheck.Issued : DeviceTokenCheck.Forged;
    }

    /// <summary>A new random key, base64: what <c>deploy/local-cluster.sh</c> and the key file hold.</summary>
    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(MinKeyBytes));

    private static void Tag(byte[] key, ReadOnlySpan<char> signed, Span<byte> tag)
    {
        // Tokens are short (MaxTokenChars), so the UTF-8 form fits on the stack.
        Span<byte> data = stackalloc byte[Encoding.UTF8.GetMaxByteCount(MaxTokenChars)];
        var length = Encoding.UTF8.GetBytes(signed, data);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, data[..length], mac);
        mac[..TagBytes].CopyTo(tag);
    }

    private static string KeyId(byte[] key)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData([.. "zte-rollout device-token key id\n"u8, .. key], hash);
        return Convert.ToHexStringLower(hash[..(KeyIdChars / 2)]);
    }

    private static byte[] LoadKey(GatewayOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.DeviceTokenKey))
        {
            return Decode(options.DeviceTokenKey, "Rollout:Gateway:DeviceTokenKey");
        }

        var path = Path.Combine(options.DataDirectory, KeyFileName);
        if (!File.Exists(path))
        {
            // Gateways sharing the data directory may start together: the first one's key wins, the others read it.
            SecretFiles.TryCreate(path, Encoding.ASCII.GetBytes(NewKey() + "\n"));
        }

        return Decode(File.ReadAllText(path).Trim(), path);
    }

    private static byte[] Decode(string base64, string source)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(base64.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{source}: a device-token key must be base64.");
        }

        return key.Length >= MinKeyBytes
            ? key
            : throw new InvalidOperationException($"{source}: a device-token key must have at least {MinKeyBytes} bytes, got {key.Length}.");
    }
}
