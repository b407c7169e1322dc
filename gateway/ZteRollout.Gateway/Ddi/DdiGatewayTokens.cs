using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Options;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Ddi;

/// <summary>
/// hawkBit DDI gateway tokens (<c>Authorization: GatewayToken &lt;secret&gt;</c>): created by an admin, each may act for
/// any device. A verified token is trusted for <see cref="GatewayOptions.DeviceCredentialCacheTime"/>, so a revoked
/// one stops working within that time on every gateway.
/// </summary>
public sealed partial class DdiGatewayTokens(IGrainFactory grains, DeviceCallRetry retry, IOptions<GatewayOptions> options, TimeProvider clock)
{
    private const string SecretPrefix = "zgt1_";
    private readonly ConcurrentDictionary<string, (string Name, long ExpiresAt)> _verified = new(StringComparer.Ordinal);
    private readonly long _trustTicks = (long)(options.Value.DeviceCredentialCacheTime.TotalSeconds * clock.TimestampFrequency);

    public static string NewSecret() => SecretPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public static string ValidateName(string name) =>
        TokenName().IsMatch(name) ? name : throw RolloutException.InvalidField("name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");

    public static Admin.V1.DdiGatewayToken ToProto(GatewayTokenInfo info)
    {
        var token = new Admin.V1.DdiGatewayToken { Name = info.Name, CreatedAt = Timestamp.FromDateTimeOffset(info.CreatedAt), CreatedBy = info.CreatedBy };
        if (info.RevokedAt is { } revoked)
        {
            token.RevokedAt = Timestamp.FromDateTimeOffset(revoked);
            token.RevokedBy = info.RevokedBy ?? string.Empty;
        }

        return token;
    }

    /// <summary>The name of the active token presented in <paramref name="header"/>; null when it is none.</summary>
    public async ValueTask<string?> VerifyAsync(string header, string secret, CancellationToken cancellationToken)
    {
        var now = clock.GetTimestamp();
        if (_verified.TryGetValue(header, out var known) && now < known.ExpiresAt)
        {
            return known.Name;
        }

        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            // Not one of ours: refused without asking the cluster.
            return null;
        }

        var name = await retry.RunAsync(() => grains.GetGrain<IGatewayTokenGrain>(0).VerifyAsync(Hash(secret)), cancellationToken);
        if (name is not null && _trustTicks > 0)
        {
            if (_verified.Count > 1000)
            {
                _verified.Clear();
            }

            _verified[header] = (name, now + _trustTicks);
        }

        return name;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex TokenName();
}
