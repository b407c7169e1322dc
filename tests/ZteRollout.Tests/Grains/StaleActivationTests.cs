using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Shared.Grains;
using ZteRollout.Silo;
using ZteRollout.Silo.Devices;
using ZteRollout.Tests.Infrastructure;
using StoredStatus = ZteRollout.Shared.Devices.OfferStatus;

namespace ZteRollout.Tests.Grains;

/// <summary>
/// While membership changes (a silo died with its part of Orleans' grain directory), a device grain can briefly have
/// two activations; the one that lost the race keeps serving from state another activation has since moved on.
/// Seen in the real-process fault test: devices were told "no offer" or "offer is VERIFIED; it cannot move to
/// SUCCEEDED" for offers whose steps they had been acknowledged. A stale activation must not tell a device it is wrong.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StaleActivationTests(ClusterFixture fixture)
{
    private RolloutCluster Node => fixture.System;

    [Fact]
    public async Task Report_ThatOnlyFitsStateAnotherActivationStored_IsAppliedOnTheStoredState_NotRefused()
    {
        var full = await Scenario.UploadAsync(Node, Scenario.Full("STALE-1", "S2.0"), Scenario.RandomBytes(4096, seed: 91));
        await Scenario.StartCampaignAsync(Node, "stale-1", "STALE-1", full.PackageId);
        var token = (await Scenario.RegisterAsync(Node, "stale-1-dev"))["stale-1-dev"];
        var facts = Scenario.Facts("STALE-1", "S1.0");
        facts.ActiveSlot = Slot.A;
        var offer = (await Scenario.CheckInAsync(Node, "stale-1-dev", token, facts)).Offer;

        // The activation that answered holds the offer as OFFERED. Another activation of the same device (as during a
        // membership change) takes it through to INSTALLED and stores that, behind the first one's back.
        await StoreAsAnotherActivationAsync("stale-1-dev", state => state.Offer = state.Offer! with { Status = StoredStatus.Installed });

        var answer = await Node.Devices.ReportAsync(new ReportRequest
        {
            DeviceId = "stale-1-dev",
            OfferId = offer.OfferId,
            ReportId = Guid.NewGuid().ToString("N"),
            Step = InstallStep.Succeeded,
            RunningVersion = "S2.0",
            ActiveSlot = Slot.B,
        }, EmbeddedNodeHost.Bearer(token));

        Assert.Equal((OfferStatus.Succeeded, false), (answer.Status, answer.Duplicate));
        var device = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "stale-1-dev" }, Node.AdminHeaders);
        Assert.Equal((offer.OfferId, OfferStatus.Succeeded, "S2.0"), (device.CurrentOffer.OfferId, device.CurrentOffer.Status, device.CurrentVersion));
    }

    [Fact]
    public async Task Download_OfAnOfferOnlyAnotherActivationStored_IsGranted_NotRefused()
    {
        var full = await Scenario.UploadAsync(Node, Scenario.Full("STALE-2", "S2.0"), Scenario.RandomBytes(4096, seed: 92));
        await Scenario.StartCampaignAsync(Node, "stale-2", "STALE-2", full.PackageId);
        var token = (await Scenario.RegisterAsync(Node, "stale-2-dev"))["stale-2-dev"];
        var offer = (await Scenario.CheckInAsync(Node, "stale-2-dev", token, Scenario.Facts("STALE-2", "S1.0"))).Offer;

        // Another activation stored the same offer under a new id (as a fresh check-in there would have).
        await StoreAsAnotherActivationAsync("stale-2-dev", state => state.Offer = state.Offer! with { OfferId = offer.OfferId + "-b" });

        var (bytes, _) = await Scenario.DownloadAsync(Node, "stale-2-dev", token, offer.OfferId + "-b");

        Assert.Equal(4096, bytes.Length);
    }

    /// <summary>Reads the device's stored state through a silo's hot storage, changes it and writes it back (a new ETag).</summary>
    private async Task StoreAsAnotherActivationAsync(string deviceId, Action<DeviceState> change)
    {
        var storage = Node.Cluster.Silos[0].SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(RolloutStorage.Hot);
        var grainId = Node.Grains.Device(deviceId).GetGrainId();
        var stored = new GrainState<DeviceState>();
        await storage.ReadStateAsync("device", grainId, stored);
        change(stored.State ?? throw new InvalidOperationException($"device {deviceId} has no stored state"));
        await storage.WriteStateAsync("device", grainId, stored);
    }
}
