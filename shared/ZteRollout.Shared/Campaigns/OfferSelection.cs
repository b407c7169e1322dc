using System.Collections.Immutable;
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

    /// <summary>No running campaign has anything for the device now.</summary>
    public sealed record Nothing : OfferDecision;

    /// <summary>Offer <see cref="Package"/> from <see cref="Campaign"/>; the device's bucket is in <see cref="Stage"/>.</summary>
    public sealed record Offer(ActiveCampaign Campaign, PackageRecord Package, int Stage) : OfferDecision;

    /// <summary>An update applies but a pre-flight check failed.</summary>
    public sealed record Defer(ActiveCampaign Campaign, PackageRecord Package, DeferralReason Reason, string Detail, int Stage) : OfferDecision;

    public static Nothing None { get; } = new();
}

/// <summary>A device as the decision sees it.</summary>
public sealed record DeviceContext(string DeviceId, ImmutableArray<string> Tags, DeviceFacts Facts)
{
    /// <summary>Deltas the device refused because its base image differs: it gets the FULL instead.</summary>
    public IReadOnlyCollection<string> RefusedDeltas { get; init; } = [];
}

/// <summary>The decision, and the campaigns that apply to the device but do not expose it yet (its bucket's stage has not started, or the campaign is paused).</summary>
public sealed record CheckInDecision(OfferDecision Decision, ImmutableArray<(ActiveCampaign Campaign, int Stage)> Waiting);

/// <summary>The check-in decision as a pure function: eligibility, bucket exposure, package choice, pre-flight.</summary>
public static class OfferSelection
{
    /// <param name="device">Who asks.</param>
    /// <param name="snapshot">The running campaigns.</param>
    /// <param name="mayOffer">False for a campaign the device must not get an offer from now (finished, out of retries, in backoff, rate limited).</param>
    public static CheckInDecision Decide(DeviceContext device, CampaignSnapshot snapshot, Func<ActiveCampaign, bool> mayOffer) =>
        Decide(device, snapshot, mayOffer, null);

    /// <param name="device">Who asks.</param>
    /// <param name="snapshot">The running campaigns.</param>
    /// <param name="mayOffer">False for a campaign the device must not get an offer from now.</param>
    /// <param name="buckets">
    /// The device's bucket per campaign salt, kept by its caller between check-ins (a bucket never changes, and
    /// computing one is a SHA-256); null to compute every time.
    /// </param>
    public static CheckInDecision Decide(DeviceContext device, CampaignSnapshot snapshot, Func<ActiveCampaign, bool> mayOffer, IDictionary<string, int>? buckets)
    {
        var facts = device.Facts;
        if (snapshot.Frozen || snapshot.Campaigns.IsDefaultOrEmpty || !FirmwareVersion.TryParse(facts.CurrentVersion, out var current, out _))
        {
            return new CheckInDecision(OfferDecision.None, []);
        }

        ImmutableArray<(ActiveCampaign, int)>.Builder? waiting = null;
        foreach (var campaign in ByPriority(snapshot.Campaigns))
        {
            if (!IsEligible(device, current, campaign.Eligibility)
                || !campaign.TargetsByModel.TryGetValue(facts.Model, out var target))
            {
                continue;
            }

            var package = SelectPackage(current, target, campaign.Rollback, device.RefusedDeltas);
            if (package is null)
            {
                continue;
            }

            var bucket = BucketOf(campaign.Salt, device.DeviceId, buckets);
            var stage = campaign.StageOf(bucket);
            if (!Bucketing.IsExposed(bucket, campaign.ExposurePercent))
            {
                (waiting ??= ImmutableArray.CreateBuilder<(ActiveCampaign, int)>()).Add((campaign, stage));
                continue;
            }

            if (!mayOffer(campaign))
            {
                continue;
            }

            OfferDecision decision = Preflight(facts, package) is { } problem
                ? new OfferDecision.Defer(campaign, package, problem.Reason, problem.Detail, stage)
                : new OfferDecision.Offer(campaign, package, stage);
            return new CheckInDecision(decision, waiting?.ToImmutable() ?? []);
        }

        return new CheckInDecision(OfferDecision.None, waiting?.ToImmutable() ?? []);
    }

    /// <summary>Highest priority first; the id breaks ties so every silo picks the same campaign.</summary>
    private static IEnumerable<ActiveCampaign> ByPriority(ImmutableArray<ActiveCampaign> campaigns)
    {
        if (campaigns.Length == 1)
        {
            return campaigns;
        }

        var ordered = campaigns.ToArray();
        Array.Sort(ordered, static (a, b) => b.Priority != a.Priority ? b.Priority.CompareTo(a.Priority) : string.CompareOrdinal(a.CampaignId, b.CampaignId));
        return ordered;
    }

    private static int BucketOf(string salt, string deviceId, IDictionary<string, int>? buckets)
    {
        if (buckets is null)
        {
            return Bucketing.BucketOf(salt, deviceId);
        }

        if (!buckets.TryGetValue(salt, out var bucket))
        {
            bucket = Bucketing.BucketOf(salt, deviceId);
            buckets[salt] = bucket;
        }

        return bucket;
    }

    /// <summary>The deny list wins, then the allow list, then every rule must admit the device.</summary>
    public static bool IsEligible(DeviceContext device, FirmwareVersion current, Eligibility rules)
    {
        if (!rules.DenyDevices.IsDefaultOrEmpty && rules.DenyDevices.Contains(device.DeviceId, StringComparer.Ordinal))
        {
            return false;
        }

        if (!rules.AllowDevices.IsDefaultOrEmpty && rules.AllowDevices.Contains(device.DeviceId, StringComparer.Ordinal))
        {
            return true;
        }

        if (!rules.Tags.IsDefaultOrEmpty && (device.Tags.IsDefault || !rules.Tags.Any(t => device.Tags.Contains(t, StringComparer.Ordinal))))
        {
            return false;
        }

        return IsEligible(device.Facts, current, rules);
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
    /// A delta whose base is the device's version when one exists, else the FULL package; null when the target is
    /// not newer than what the device runs (never a downgrade) — or, for a rollback campaign, not older (the FULL only)
    /// or not authorized by its signed manifest to replace the device's version (the agent would refuse it).
    /// </summary>
    public static PackageRecord? SelectPackage(FirmwareVersion current, ModelTarget target, bool rollback = false, IReadOnlyCollection<string>? refusedDeltas = null)
    {
        var targetVersion = FirmwareVersion.Parse(target.Full.Manifest.Version);
        if (rollback)
        {
            return targetVersion < current && target.Full.Manifest.AuthorizesDowngradeFrom(current) ? target.Full : null;
        }

        if (targetVersion <= current)
        {
            return null;
        }

        foreach (var delta in target.Deltas)
        {
            if (delta.Manifest.BaseVersion is { } baseText && FirmwareVersion.Parse(baseText) == current
                && FirmwareVersion.Parse(delta.Manifest.Version) == targetVersion
                && (refusedDeltas is null || refusedDeltas.Count == 0 || !refusedDeltas.Contains(delta.PackageId)))
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
