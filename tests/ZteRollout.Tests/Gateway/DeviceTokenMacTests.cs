using System.Security.Cryptography;
using ZteRollout.Gateway.Auth;
using ZteRollout.Shared.Devices;

namespace ZteRollout.Tests.Gateway;

/// <summary>The MAC in device tokens: what a gateway can tell about a token alone, before any grain call.</summary>
public sealed class DeviceTokenMacTests
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] OldKey = RandomNumberGenerator.GetBytes(32);

    private static DeviceTokenMac Mac(bool acceptUnsigned = false) => new(Key, [OldKey], acceptUnsigned);

    [Fact]
    public void AnIssuedToken_IsIssued_AndNamesItsDevice()
    {
        var token = Mac().Issue("dev-1.a_b");

        Assert.Equal(DeviceTokenCheck.Issued, Mac().Check(token));
        Assert.True(DeviceIdentity.TryParseToken(token, out var deviceId, out _));
        Assert.Equal("dev-1.a_b", deviceId);
        Assert.StartsWith($"zdt2:dev-1.a_b:{Mac().CurrentKeyId}.", token);
    }

    [Fact]
    public void ATamperedToken_IsForged_WhicheverPartChanged()
    {
        var token = Mac().Issue("dev-1");
        var parts = token.Split(':');
        var secret = parts[2].Split('.');

        string[] tampered =
        [
            $"zdt2:dev-2:{parts[2]}",                                               // another device
            $"zdt2:dev-1:{secret[0]}.{Flip(secret[1])}.{secret[2]}",                // another nonce
            $"zdt2:dev-1:{secret[0]}.{secret[1]}.{Flip(secret[2])}",                // another tag
            $"zdt2:dev-1:00000000.{secret[1]}.{secret[2]}",                         // an unknown key id
            $"zdt2:dev-1:{secret[0]}.{secret[1]}{secret[2]}",                       // no tag
            $"zdt2:dev-1:{secret[0]}.{secret[1]}.{secret[2]}AAAA",                  // a longer tag
            new DeviceTokenMac(RandomNumberGenerator.GetBytes(32), [], false).Issue("dev-1"), // another server's key
        ];

        Assert.All(tampered, t => Assert.Equal(DeviceTokenCheck.Forged, Mac().Check(t)));
    }

    [Fact]
    public void ATokenOfAPreviousKey_IsStillIssued_ButNewTokensUseTheCurrentKey()
    {
        var old = new DeviceTokenMac(OldKey, [], false).Issue("dev-1");

        Assert.Equal(DeviceTokenCheck.Issued, Mac().Check(old));
        Assert.NotEqual(new DeviceTokenMac(OldKey, [], false).CurrentKeyId, Mac().CurrentKeyId);
    }

    [Fact]
    public void AnUnsignedToken_IsForged_UnlessUnsignedTokensAreAccepted()
    {
        var unsigned = DeviceIdentity.NewToken("dev-1");

        Assert.Equal(DeviceTokenCheck.Forged, Mac().Check(unsigned));
        Assert.Equal(DeviceTokenCheck.Issued, Mac(acceptUnsigned: true).Check(unsigned));
    }

    [Fact]
    public void SomethingElse_IsMalformed()
    {
        string[] malformed = ["", "zak1_admin", "zdt2:dev 1:x.y.z0000000000000000", "zdt3:dev-1:" + new string('a', 40), "zdt2:" + new string('d', 129) + ":" + new string('a', 40)];

        Assert.All(malformed, t => Assert.Equal(DeviceTokenCheck.Malformed, Mac().Check(t)));
        Assert.Equal(DeviceTokenCheck.Malformed, Mac().Check(Mac().Issue("dev-1") + new string('A', DeviceTokenMac.MaxTokenChars)));
    }

    [Fact]
    public void TheLongestDeviceId_GivesATokenWithinTheBound()
    {
        var token = Mac().Issue(new string('d', DeviceIdentity.MaxIdLength));

        Assert.Equal(DeviceTokenMac.MaxTokenChars, token.Length);
        Assert.Equal(DeviceTokenCheck.Issued, Mac().Check(token));
    }

    private static string Flip(string text) => (text[0] == 'A' ? 'B' : 'A') + text[1..];
}
