namespace ZteRollout.Shared.Devices;

/// <summary>
/// Device attributes an agent sent without a full set of facts (hawkBit DDI <c>configData</c>): each field is null
/// when the agent did not send it. Merged into the stored facts; model and current version are what eligibility needs.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.DeviceFactsPatch")]
public sealed record DeviceFactsPatch(
    [property: Id(0)] string? Model,
    [property: Id(1)] string? HardwareRevision,
    [property: Id(2)] string? Region,
    [property: Id(3)] string? Carrier,
    [property: Id(4)] string? CurrentVersion,
    [property: Id(5)] BootSlot? ActiveSlot,
    [property: Id(6)] int? BatteryPercent,
    [property: Id(7)] long? FreeStorageBytes,
    [property: Id(8)] string? AgentVersion)
{
    /// <summary>Battery assumed when an agent never sent one: pre-flight checks apply only to what the device reports.</summary>
    public const int UnknownBatteryPercent = 100;

    /// <summary>Free storage assumed when an agent never sent it (see <see cref="UnknownBatteryPercent"/>).</summary>
    public const long UnknownFreeStorageBytes = long.MaxValue;

    /// <summary>
    /// The facts after applying this patch to <paramref name="stored"/> (or to nothing, when <paramref name="replace"/>),
    /// and the domain field still missing for eligibility (<c>model</c>, <c>current_version</c>), if any.
    /// </summary>
    public (DeviceFacts? Facts, string? Missing) ApplyTo(DeviceFacts? stored, bool replace)
    {
        var basis = replace ? null : stored;
        var model = Model ?? basis?.Model;
        var version = CurrentVersion ?? basis?.CurrentVersion;
        if (string.IsNullOrEmpty(model))
        {
            return (null, "model");
        }

        if (string.IsNullOrEmpty(version))
        {
            return (null, "current_version");
        }

        return (new DeviceFacts(
            model,
            HardwareRevision ?? basis?.HardwareRevision ?? string.Empty,
            Region ?? basis?.Region ?? string.Empty,
            Carrier ?? basis?.Carrier ?? string.Empty,
            version,
            ActiveSlot ?? basis?.ActiveSlot ?? BootSlot.Unspecified,
            BatteryPercent ?? basis?.BatteryPercent ?? UnknownBatteryPercent,
            FreeStorageBytes ?? basis?.FreeStorageBytes ?? UnknownFreeStorageBytes,
            AgentVersion ?? basis?.AgentVersion ?? string.Empty), null);
    }
}

/// <summary>
/// The number in an offer id (<c>of-{n}-{random}</c>, n counting the device's offers): small, unique per device and
/// fixed for the offer's life, so it serves as the hawkBit DDI action id (agents read it as a signed 32-bit integer).
/// </summary>
public static class OfferNumbers
{
    public const string Prefix = "of-";

    public static string NewOfferId(long number, string random) => $"{Prefix}{number}-{random}";

    /// <summary>The offer's number; null for an id not made by <see cref="NewOfferId"/>.</summary>
    public static long? Of(string offerId)
    {
        if (!offerId.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var end = offerId.IndexOf('-', Prefix.Length);
        return end > Prefix.Length && long.TryParse(offerId.AsSpan(Prefix.Length, end - Prefix.Length), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out var number) ? number : null;
    }
}
