using Microsoft.Extensions.Time.Testing;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Gateway;

/// <summary>Stop the embedded node and start it again on the same data directory: everything acknowledged is still there.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task EmbeddedNode_RestartedOnTheSameDataDirectory_KeepsDevicesPackagesOffersReportsAndKeys()
    {
        var data = TestPaths.NewTempDirectory("restart");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.Zero));
        string offerId, packageId, adminKey, publicKey, token;
        byte[] bytes = Scenario.RandomBytes(50_000, seed: 42);
        try
        {
            await using (var node = await EmbeddedNodeHost.StartAsync(data, clock))
            {
                adminKey = node.AdminKey;
                publicKey = (await node.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), node.AdminHeaders)).PublicKeyPem;
                packageId = (await Scenario.UploadAsync(node, Scenario.Full("RST", "S2.0"), bytes)).PackageId;
                await Scenario.StartCampaignAsync(node, "rst", "RST", packageId);
                var tokens = await Scenario.RegisterAsync(node, "rst-1", "rst-2");
                token = tokens["rst-1"];
                offerId = (await Scenario.CheckInAsync(node, "rst-1", token, Scenario.Facts("RST", "S1.0"))).Offer.OfferId;
                await Scenario.ReportAsync(node, "rst-1", token, offerId, InstallStep.Downloading, reportId: "rst-r1");
                await Scenario.ReportAsync(node, "rst-1", token, offerId, InstallStep.Downloaded, reportId: "rst-r2");
            }

            await using (var again = await EmbeddedNodeHost.StartAsync(data, clock))
            {
                Assert.Equal(adminKey, again.AdminKey);
                Assert.Equal(publicKey, (await again.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), again.AdminHeaders)).PublicKeyPem);
                var package = await again.Admin.GetPackageAsync(new GetPackageRequest { PackageId = packageId }, again.AdminHeaders);
                Assert.Equal(Scenario.Sha256Hex(bytes), package.Sha256);

                var device = await again.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "rst-1" }, again.AdminHeaders);
                Assert.Equal((offerId, OfferStatus.Downloaded), (device.CurrentOffer.OfferId, device.CurrentOffer.Status));

                var checkIn = await Scenario.CheckInAsync(again, "rst-1", token, Scenario.Facts("RST", "S1.0"));
                Assert.Equal(offerId, checkIn.Offer.OfferId);
                var download = await Scenario.DownloadAsync(again, "rst-1", token, offerId, offset: 10_000);
                Assert.Equal(bytes[10_000..], download.Bytes);

                var duplicate = await Scenario.ReportAsync(again, "rst-1", token, offerId, InstallStep.Downloaded, reportId: "rst-r2");
                Assert.True(duplicate.Duplicate);

                var campaign = await again.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "rst" }, again.AdminHeaders);
                Assert.Equal((CampaignState.Running, 1UL, 1UL), (campaign.State, campaign.Counts.Offered, campaign.Counts.InProgress));

                var second = await Scenario.CheckInAsync(again, "rst-2", (await again.Admin.RegisterDevicesAsync(new RegisterDevicesRequest
                {
                    Devices = { new DeviceRegistration { DeviceId = "rst-2" } },
                    RotateExisting = true,
                }, again.AdminHeaders)).Credentials[0].Token, Scenario.Facts("RST", "S1.0"));
                Assert.Equal(packageId, second.Offer.PackageId);
            }
        }
        finally
        {
            TestPaths.TryDelete(data);
        }
    }
}
