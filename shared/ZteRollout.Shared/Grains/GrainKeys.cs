using Orleans.Runtime;

namespace ZteRollout.Shared.Grains;

/// <summary>
/// The grain keys of devices and campaigns. The ADO.NET storage provider stores a string key that parses as hex
/// as a number, so "0a", "A" and "a" (or IMEI-like "0123" and "123") would share one row; a prefix with a
/// non-hex character keeps every id its own row.
/// </summary>
public static class GrainKeys
{
    private const string DevicePrefix = "device/";
    private const string CampaignPrefix = "campaign/";

    private static GrainTypes? _device;

    /// <summary>
    /// The device grain for <paramref name="deviceId"/>. GetGrain by string key resolves the grain and interface types
    /// by reflection on every call (a measurable share of a check-in); they never change, so they are resolved once.
    /// </summary>
    public static IDeviceGrain Device(this IGrainFactory grains, string deviceId)
    {
        var key = DevicePrefix + deviceId;
        if (_device is { } types)
        {
            return (IDeviceGrain)grains.GetGrain(GrainId.Create(types.Grain, key), types.Interface);
        }

        var reference = grains.GetGrain<IDeviceGrain>(key);
        var resolved = (GrainReference)(object)reference;
        _device = new GrainTypes(resolved.GrainId.Type, resolved.InterfaceType);
        return reference;
    }

    private sealed record GrainTypes(GrainType Grain, GrainInterfaceType Interface);

    public static ICampaignGrain Campaign(this IGrainFactory grains, string campaignId) => grains.GetGrain<ICampaignGrain>(CampaignPrefix + campaignId);

    /// <summary>The device id of a device grain's key.</summary>
    public static string DeviceIdOf(string key) => key.StartsWith(DevicePrefix, StringComparison.Ordinal) ? key[DevicePrefix.Length..] : key;

    /// <summary>The campaign id of a campaign grain's key.</summary>
    public static string CampaignIdOf(string key) => key.StartsWith(CampaignPrefix, StringComparison.Ordinal) ? key[CampaignPrefix.Length..] : key;
}
