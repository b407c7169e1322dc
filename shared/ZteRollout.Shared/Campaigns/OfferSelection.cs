using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Shared.Campaigns;

/// <summary>Why an update that applies was held back at check-in; not a failure.</summary>
[GenerateSerializer]
public enum DeferralReason
{
    BatteryLow = 1,
    InsufficientStorage = 2,
}

/// <summary>What a check-in decides for one device.</summary>
public abstract record OfferDecision
{
    private OfferDecision()
    {
    }

    /// <summary>No running campaign has anything for the device.</summary>
    public sealed record Nothing : OfferDecision;

    /// <summary>Offer <see cref="Package"/> from <see cref="Campaign"/>.</summary>
    public sealed record Offer(ActiveCampaign Campaign, PackageRecord Package) : OfferDecision;

    /// <summary>An update applies but a pre-flight check failed.</summary>
    public sealed record Defer(ActiveCampaign Campaign, PackageRecord Package, DeferralReason Reason, string Detail) : OfferDecision;

    public static Nothing None { get; } = new();
}

/// <summary>The check-in decision as a pure function: eligibility, package choice, pre-flight.</summary>
public static class OfferSelection
{
    /// <param name="facts">What the device reported.</param>
    /// <param name="snapshot">The running campaigns.</param>
    /// <param name="mayOffer">False for a campaign the device must not get another offer from (e.g. already finished it).</param>
    public static OfferDecision Decide(DeviceFacts facts, CampaignSnapshot snapshot, Func<string, bool> mayOffer)
    {
        if (!FirmwareVersion.TryParse(facts.CurrentVersion, out var current, out _))
        {
            return OfferDecision.None;
        }

        // Highest priority first; the id breaks ties so every silo picks the same campaign.
        foreach (var campaign in snapshot.Campaigns.OrderByDescending(c => c.Priority).ThenBy(c => c.CampaignId, StringComparer.Ordinal))
        {
            if (!IsEligible(facts, current, campaign.Eligibility)
                || !campaign.TargetsByModel.TryGetValue(facts.Model, out var target)
                || !mayOffer(campaign.CampaignId))
            {
                continue;
            }

            var package = SelectPackage(current, target);
            if (package is null)
            {
                continue;
            }

            return Preflight(facts, package) is { } problem
                ? new OfferDecision.Defer(campaign, package, problem.Reason, problem.Detail)
                : new OfferDecision.Offer(campaign, package);
        }

        return OfferDecision.None;
    }

    public static bool IsEligible(DeviceFacts facts, FirmwareVersion current, Eligibility rules)
    {
        static bool Allows(System.Collections.Immutable.ImmutableArray<string> list, string value) =>
            list.IsDefaultOrEmpty || list.Contains(value, StringComparer.Ordinal);

        if (!Allows(rules.Models, facts.Model) || !Allows(rules.HardwareRevisions, facts.HardwareRevision)
            || !Allows(rules.Regions, facts.Region) || !Allows(rules.Carriers, facts.Carrier))
        {
            return false;
        }

        if (!rules.CurrentVersions.IsDefaultOrEmpty && !rules.CurrentVersions.Any(v => FirmwareVersion.Parse(v) == current))
        {
            return false;
        }

        return (rules.MinCurrentVersion is null || current >= FirmwareVersion.Parse(rules.MinCurrentVersion))
            && (rules.MaxCurrentVersion is null || current <= FirmwareVersion.Parse(rules.MaxCurrentVersion));
    }

    /// <summary>
    /// A delta whose base is the device's version when one exists, else the FULL package;
    /// null when the target is not newer than what the device runs (never a downgrade).
    /// </summary>
    public static PackageRecord? SelectPackage(FirmwareVersion current, ModelTarget target)
    {
        var targetVersion = FirmwareVersion.Parse(target.Full.Manifest.Version);
        if (targetVersion <= current)
        {
            return null;
        }

        foreach (var delta in target.Deltas)
        {
            if (delta.Manifest.BaseVersion is { } baseText && FirmwareVersion.Parse(baseText) == current
                && FirmwareVersion.Parse(delta.Manifest.Version) == targetVersion)
            {
                return delta;
            }
        }

        return target.Full;
    }

    /// <summary>Battery and free storage against what the package needs; null when the device can take it.</summary>
    public static (DeferralReason Reason, string Detail)? Preflight(DeviceFacts facts, PackageRecord package)
    {
        if (facts.BatteryPercent < package.Metadata.MinBatteryPercent)
        {
            return (DeferralReason.BatteryLow, $"battery {facts.BatteryPercent}% < required {package.Metadata.MinBatteryPercent}%");
        }

        // The download itself needs room even when the uploader declared less.
        var needed = Math.Max(package.Metadata.RequiredFreeBytes, package.Manifest.Size);
        if (facts.FreeStorageBytes < needed)
        {
            return (DeferralReason.InsufficientStorage, $"free storage {facts.FreeStorageBytes} bytes < required {needed} bytes");
        }

        return null;
    }
}
