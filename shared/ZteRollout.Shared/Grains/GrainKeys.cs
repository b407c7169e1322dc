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

    public static IDeviceGrain Device(this IGrainFactory grains, string deviceId) => grains.GetGrain<IDeviceGrain>(DevicePrefix + deviceId);

    public static ICampaignGrain Campaign(this IGrainFactory grains, string campaignId) => grains.GetGrain<ICampaignGrain>(CampaignPrefix + campaignId);

    /// <summary>The device id of a device grain's key.</summary>
    public static string DeviceIdOf(string key) => key.StartsWith(DevicePrefix, StringComparison.Ordinal) ? key[DevicePrefix.Length..] : key;

    /// <summary>The campaign id of a campaign grain's key.</summary>
    public static string CampaignIdOf(string key) => key.StartsWith(CampaignPrefix, StringComparison.Ordinal) ? key[CampaignPrefix.Length..] : key;
}
