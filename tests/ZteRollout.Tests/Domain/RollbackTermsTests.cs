using System.Text;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Tests.Domain;

/// <summary>The signed rollback terms of a manifest: their canonical bytes, and what a rollback campaign offers by them.</summary>
public sealed class RollbackTermsTests
{
    private static PackageManifest Manifest(string version, uint securityVersion = 0, params string[] rollbackFrom) =>
        new("pkg-00000000000000000001", version, ["MF-B", "MF-A"], PackageKind.Full, null, 1024, new string('a', 64))
        {
            SecurityVersion = securityVersion,
            RollbackFrom = [.. rollbackFrom],
        };

    [Fact]
    public void Encode_ManifestWithoutRollbackTerms_KeepsTheBytesOfFormatOne()
    {
        var bytes = ManifestCodec.Encode(Manifest("B07"));

        Assert.Equal(
            "{\"format\":\"zte-rollout-manifest/1\",\"packageId\":\"pkg-00000000000000000001\",\"version\":\"B07\",\"models\":[\"MF-A\",\"MF-B\"],"
            + "\"kind\":\"FULL\",\"size\":1024,\"sha256\":\"" + new string('a', 64) + "\"}",
            Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void Encode_RollbackTerms_FollowSha256_VersionsSorted_AndDecodeBack()
    {
        var manifest = Manifest("B07", 4, "B09", "B08");

        var text = Encoding.UTF8.GetString(ManifestCodec.Encode(manifest));
        var decoded = ManifestCodec.Decode(Encoding.UTF8.GetBytes(text));

        Assert.EndsWith("\"sha256\":\"" + new string('a', 64) + "\",\"securityVersion\":4,\"rollbackFrom\":[\"B08\",\"B09\"]}", text);
        Assert.Equal((4U, "B08,B09"), (decoded.SecurityVersion, string.Join(',', decoded.RollbackFrom)));
        Assert.Equal((0U, 0), (ManifestCodec.Decode(ManifestCodec.Encode(Manifest("B07"))).SecurityVersion, ManifestCodec.Decode(ManifestCodec.Encode(Manifest("B07"))).RollbackFrom.Length));
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("4294967296")]
    [InlineData("\"4\"")]
    public void Decode_SecurityVersionNotAnUnsigned32BitNumber_IsAFormatError(string value)
    {
        var text = Encoding.UTF8.GetString(ManifestCodec.Encode(Manifest("B07", 4))).Replace("\"securityVersion\":4", "\"securityVersion\":" + value, StringComparison.Ordinal);

        Assert.Throws<FormatException>(() => ManifestCodec.Decode(Encoding.UTF8.GetBytes(text)));
    }

    [Fact]
    public void AuthorizesDowngradeFrom_OnlyTheListedVersions_ComparedAsVersions()
    {
        var manifest = Manifest("MF18.2.1.B07", 0, "MF18.2.1.B08");

        Assert.True(manifest.AuthorizesDowngradeFrom(FirmwareVersion.Parse("mf18.2.1.b08")));
        Assert.False(manifest.AuthorizesDowngradeFrom(FirmwareVersion.Parse("MF18.2.1.B09")));
        Assert.False(Manifest("MF18.2.1.B07").AuthorizesDowngradeFrom(FirmwareVersion.Parse("MF18.2.1.B08")));
    }

    [Theory]
    [InlineData("B08", true)]
    [InlineData("B09", false)]
    [InlineData("B07", false)]
    [InlineData("B06", false)]
    public void SelectPackage_RollbackCampaign_OffersOnlyToAVersionTheManifestAuthorizes(string current, bool offered)
    {
        var target = new ModelTarget(Record(Manifest("B07", 1, "B08")), []);

        var package = OfferSelection.SelectPackage(FirmwareVersion.Parse(current), target, rollback: true);

        Assert.Equal(offered, package is not null);
    }

    [Fact]
    public void SelectPackage_UpgradeCampaign_IgnoresRollbackTerms()
    {
        var target = new ModelTarget(Record(Manifest("B07", 1, "B08")), []);

        Assert.NotNull(OfferSelection.SelectPackage(FirmwareVersion.Parse("B06"), target));
        Assert.Null(OfferSelection.SelectPackage(FirmwareVersion.Parse("B08"), target));
    }

    private static PackageRecord Record(PackageManifest manifest) =>
        new(manifest, new PackageMetadata(manifest.Version, manifest.Models, manifest.Kind, null, 0, 0, "") { SecurityVersion = manifest.SecurityVersion, RollbackFrom = manifest.RollbackFrom },
            ManifestCodec.Encode(manifest), [], DateTimeOffset.UnixEpoch);
}
