using ZteRollout.Shared;
using System.Collections.Immutable;
using System.Security.Cryptography;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Devices;

[GenerateSerializer, Alias("zte.GatewayTokenState")]
public sealed class GatewayTokenState
{
    [Id(0)]
    public List<StoredGatewayToken> Tokens { get; set; } = [];
}

/// <summary>One gateway token: what operators see and the hash of its secret.</summary>
[GenerateSerializer, Immutable, Alias("zte.StoredGatewayToken")]
public sealed record StoredGatewayToken([property: Id(0)] GatewayTokenInfo Info, [property: Id(1)] byte[] SecretHash);

/// <summary>The tenant's hawkBit DDI gateway tokens (few, rarely changed; gateways cache what they verified).</summary>
public sealed class GatewayTokenGrain(
    [PersistentState("gatewayTokens", RolloutStorage.Name)] IPersistentState<GatewayTokenState> state,
    RolloutClock clock) : Grain, IGatewayTokenGrain
{
    public async Task<GatewayTokenInfo> CreateAsync(string name, byte[] secretHash, string createdBy)
    {
        if (state.State.Tokens.Any(t => t.Info.Name == name))
        {
            throw RolloutException.AlreadyExists($"gateway token '{name}' already exists");
        }

        var info = new GatewayTokenInfo(name, clock.UtcNow, createdBy, null, null);
        state.State.Tokens.Add(new StoredGatewayToken(info, secretHash));
        await state.WriteStateAsync();
        return info;
    }

    public Task<ImmutableArray<GatewayTokenInfo>> ListAsync() =>
        Task.FromResult(state.State.Tokens.Select(t => t.Info).OrderBy(i => i.Name, StringComparer.Ordinal).ToImmutableArray());

    public async Task<GatewayTokenInfo> RevokeAsync(string name, string revokedBy)
    {
        var index = state.State.Tokens.FindIndex(t => t.Info.Name == name);
        if (index < 0)
        {
            throw RolloutException.NotFound($"gateway token '{name}' does not exist");
        }

        var token = state.State.Tokens[index];
        if (token.Info.RevokedAt is not null)
        {
            return token.Info;
        }

        var revoked = token with { Info = token.Info with { RevokedAt = clock.UtcNow, RevokedBy = revokedBy } };
        state.State.Tokens[index] = revoked;
        await state.WriteStateAsync();
        return revoked.Info;
    }

    public Task<string?> VerifyAsync(byte[] presentedHash)
    {
        string? found = null;

        // Every token is compared whatever matches, so timing tells nothing about which one did.
        foreach (var token in state.State.Tokens)
        {
            if (CryptographicOperations.FixedTimeEquals(token.SecretHash, presentedHash) && token.Info.RevokedAt is null)
            {
                found = token.Info.Name;
            }
        }

        return Task.FromResult(found);
    }
}
