using Google.Protobuf;
using ZteRollout.Device.V1;
using ZteRollout.Shared.Packages;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Gateway;

/// <summary>
/// Release-key checks the agent makes itself (issue 10, point 5): the server never stores or offers such a manifest,
/// so a man in the middle, standing for a compromised server or gateway, re-signs the genuine offer.
/// </summary>
public sealed partial class AgentRefusalTests
{
    [Fact]
    public async Task Agent_ManifestSignedByAKeyItDoesNotTrust_RefusesWithUnknownKey_AndTheServerCountsIt()
    {
        await UpgradeCampaignAsync("AR-UK", "ar-uk");
        using var stranger = ReleaseKeys.Generate();

        // Every term as the server signed it, valid for a century, but signed (and named) by a key the device never got.
        var (result, device) = await RunAgentAsync("ar-uk-1", "AR-UK", "AR1.0", offer =>
            Resign(offer, stranger, new DateTimeOffset(2126, 1, 1, 0, 0, 0, TimeSpan.Zero)));

        await AssertRefusedAsync(result, device, "ar-uk", "ar-uk-1", "E_MANIFEST_KEY_UNKNOWN", "AR1.0");
        Assert.Contains(ReleaseKeys.KeyId(stranger), result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_ExpiredManifestSignedByItsTrustedKey_RefusesWithExpired_AndTheServerCountsIt()
    {
        await UpgradeCampaignAsync("AR-EX", "ar-ex");
        using var trusted = TestSigning.OnlineKey(Node.DataDirectory);

        // The key the device trusts signed it, but its expiry lies in the past of any clock.
        var (result, device) = await RunAgentAsync("ar-ex-1", "AR-EX", "AR1.0", offer =>
            Resign(offer, trusted, new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero)));

        await AssertRefusedAsync(result, device, "ar-ex", "ar-ex-1", "E_MANIFEST_EXPIRED", "AR1.0");
        Assert.Equal("manifest expired at 2020-01-01T00:00:00Z", result.Detail);
    }

    /// <summary>The offer's own manifest terms, signed again by <paramref name="key"/> with <paramref name="expires"/>.</summary>
    private static void Resign(Offer offer, System.Security.Cryptography.ECDsa key, DateTimeOffset expires)
    {
        var signed = ManifestTrust.Sign(ManifestCodec.Decode(offer.Manifest.Span).WithoutSigningTerms(), key, expires);
        offer.Manifest = ByteString.CopyFrom(signed.Payload);
        offer.ManifestSignature = ByteString.CopyFrom(signed.Signature);
    }
}
