using System.Collections.Immutable;

namespace ZteRollout.Shared.Grains;

/// <summary>
/// hawkBit DDI gateway tokens: each may act for any device of the tenant (a gateway in front of devices that hold no
/// credential of their own). Only SHA-256 hashes are stored. Key: 0 (tokens number in the handful).
/// </summary>
[Alias("zte.IGatewayTokenGrain")]
public interface IGatewayTokenGrain : IGrainWithIntegerKey
{
    /// <summary>Stores a new token's hash under a name.</summary>
    /// <exception cref="Errors.RolloutException">AlreadyExists when the name is taken (revoked names stay taken).</exception>
    [Alias("Create")]
    Task<GatewayTokenInfo> CreateAsync(string name, byte[] secretHash, string createdBy);

    [Alias("List")]
    Task<ImmutableArray<GatewayTokenInfo>> ListAsync();

    /// <summary>Revokes a token; revoking it again changes nothing.</summary>
    /// <exception cref="Errors.RolloutException">NotFound when no token has the name.</exception>
    [Alias("Revoke")]
    Task<GatewayTokenInfo> RevokeAsync(string name, string revokedBy);

    /// <summary>The name of the active token with this hash (constant-time compare against each); null when none.</summary>
    [Alias("Verify")]
    Task<string?> VerifyAsync(byte[] presentedHash);
}

/// <summary>A gateway token as operators see it (never the secret).</summary>
[GenerateSerializer, Immutable, Alias("zte.GatewayTokenInfo")]
public sealed record GatewayTokenInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] DateTimeOffset CreatedAt,
    [property: Id(2)] string CreatedBy,
    [property: Id(3)] DateTimeOffset? RevokedAt,
    [property: Id(4)] string? RevokedBy);
