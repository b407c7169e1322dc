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

/// <summary>Why a campaign does or does not offer a device now, as the check-in decision sees it.</summary>
[GenerateSerializer]
public enum OfferVerdict
{
    /// <summary>The campaign would offer its update.</summary>
    Offer = 1,

    /// <summary>An update applies but a pre-flight check (battery, storage) holds it back.</summary>
    Deferred = 2,

    /// <summary>An eligibility rule of the plan excludes the device.</summary>
    NotEligible = 3,

    /// <summary>The campaign has no target for the device's model.</summary>
    NoTarget = 4,

    /// <summary>Nothing to install: the target is not newer (or, for a rollback, not an authorized older version).</summary>
    NothingToInstall = 5,

    /// <summary>The device's bucket is beyond the current stage's exposure.</summary>
    NotExposed = 6,

    /// <summary>The campaign is halted.</summary>
    Halted = 7,

    /// <summary>The campaign is paused.</summary>
    Paused = 8,

    /// <summary>The device's own history holds it back: it already succeeded, or its retry budget, code or backoff says no.</summary>
    RetryHeld = 9,

    /// <summary>The campaign's offer rate limit has no room now.</summary>
    RateLimited = 10,

    /// <summary>A campaign of higher priority decides for the device first.</summary>
    Preempted = 11,

    /// <summary>The device's cohort value (e.g. hardware_revision=R3) is halted on its own; the rest of the campaign goes on.</summary>
    CohortHalted = 12,
}

/// <summary>One campaign's verdict for a device, with the figures behind it (empty unless asked for).</summary>
public readonly record struct CampaignJudgement(OfferVerdict Verdict, PackageRecord? Package, int Stage, string Detail);

/// <summary>The decision, and the campaigns that apply to the device but do not expose it yet (its bucket's stage has not started, or the campaign is paused).</summary>
public sealed record CheckInDecision(OfferDecision Decision, ImmutableArray<(ActiveCampaign Campaign, int Stage)> Waiting);

/// <summary>The check-in decision as a pure function: eligibility, bucket exposure, package choice, pre-flight.</summary>
public static class OfferSelection
{
    /// <param name="device">Who asks.</param>
    /// <param name="snapshot">The running campaigns.</param>
    /// <param name="mayOffer">False for a campaign the device must not get an offer from now (finished, out of retries, in backoff, rate limited).</param>
    public static CheckInDecision Decide(DeviceContext device, CampaignSnapshot snapshot, Func<ActiveCampaign, bool> mayOffer) =>
        Decide(device, snapshot, c => mayOffer(c) ? null : string.Empty, null);

    /// <param name="device">Who asks.</param>
    /// <param name="snapshot">The running campaigns.</param>
    /// <param name="heldBy">
    /// Why the device's own history holds a campaign back (already succeeded, retry budget, code, backoff), or null
    /// when it may be offered.
    /// </param>
    /// <param name="buckets">
    /// The device's bucket per campaign salt, kept by its caller between check-ins (a bucket never changes, and
    /// computing one is a SHA-256); null to compute every time.
    /// </param>
    public static CheckInDecision Decide(DeviceContext device, CampaignSnapshot snapshot, Func<ActiveCampaign, string?> heldBy, IDictionary<string, int>? buckets)
    {
        if (snapshot.Frozen || snapshot.Campaigns.IsDefaultOrEmpty || !FirmwareVersion.TryParse(device.Facts.CurrentVersion, out var current, out _))
        {
            return new CheckInDecision(OfferDecision.None, []);
        }

        ImmutableArray<(ActiveCampaign, int)>.Builder? waiting = null;
        foreach (var campaign in ByPriority(snapshot.Campaigns))
        {
            var judgement = Judge(device, current, campaign, heldBy, buckets, describe: false);
            switch (judgement.Verdict)
            {
                case OfferVerdict.NotExposed or OfferVerdict.Halted or OfferVerdict.Paused when judgement.Package is not null:
                    (waiting ??= ImmutableArray.CreateBuilder<(ActiveCampaign, int)>()).Add((campaign, judgement.Stage));
                    continue;
                case OfferVerdict.Offer:
                    return new CheckInDecision(new OfferDecision.Offer(campaign, judgement.Package!, judgement.Stage), waiting?.ToImmutable() ?? []);
                case OfferVerdict.Deferred:
                    var (reason, detail) = Preflight(device.Facts, judgement.Package!)!.Value;
                    return new CheckInDecision(new OfferDecision.Defer(campaign, judgement.Package!, reason, detail, judgement.Stage), waiting?.ToImmutable() ?? []);
            }
        }

        return new CheckInDecision(OfferDecision.None, waiting?.ToImmutable() ?? []);
    }

    /// <summary>
    /// Every campaign of the snapshot, highest priority first, with its verdict for the device and why: the same
    /// judgement <see cref="Decide(DeviceContext, CampaignSnapshot, Func{ActiveCampaign, string?}, IDictionary{string, int}?)"/>
    /// acts on. A campaign after the one that decides is <see cref="OfferVerdict.Preempted"/>; <paramref name="hasRoom"/>
    /// says whether the deciding campaign's rate limit would let an offer through now. Null when no campaign is judged
    /// at all (the fleet is frozen, or the device's version cannot be read): the caller says why.
    /// </summary>
    public static ImmutableArray<(ActiveCampaign Campaign, CampaignJudgement Judgement)> Explain(
        DeviceContext device, CampaignSnapshot snapshot, Func<ActiveCampaign, string?> heldBy, Func<ActiveCampaign, bool> hasRoom)
    {
        if (snapshot.Campaigns.IsDefaultOrEmpty || !FirmwareVersion.TryParse(device.Facts.CurrentVersion, out var current, out _))
        {
            return [];
        }

        var judged = ImmutableArray.CreateBuilder<(ActiveCampaign, CampaignJudgement)>(snapshot.Campaigns.Length);
        string? decidedBy = null;
        foreach (var campaign in ByPriority(snapshot.Campaigns))
        {
            var judgement = Judge(device, current, campaign, heldBy, null, describe: true);
            if (decidedBy is not null && judgement.Verdict is OfferVerdict.Offer or OfferVerdict.Deferred)
            {
                judgement = judgement with { Verdict = OfferVerdict.Preempted, Detail = $"campaign '{decidedBy}' (higher priority) decides first; otherwise: {judgement.Detail}" };
            }
            else if (judgement.Verdict is OfferVerdict.Offer or OfferVerdict.Deferred)
            {
                decidedBy = campaign.CampaignId;
                if (judgement.Verdict == OfferVerdict.Offer && !hasRoom(campaign))
                {
                    judgement = judgement with { Verdict = OfferVerdict.RateLimited, Detail = $"the offer rate limit has no room now; {judgement.Detail}" };
                }
            }

            judged.Add((campaign, judgement));
        }

        return judged.MoveToImmutable();
    }

    /// <summary>
    /// One campaign's verdict for the device, in the order the check-in tests them: eligibility, target, package,
    /// exposure (halted, paused, bucket), the device's own history, pre-flight. With <paramref name="describe"/> false
    /// (the check-in's hot path) no detail text is built.
    /// </summary>
    public static CampaignJudgement Judge(
        DeviceContext device, FirmwareVersion current, ActiveCampaign campaign, Func<ActiveCampaign, string?> heldBy, IDictionary<string, int>? buckets, bool describe)
    {
        var facts = device.Facts;
        if (EligibilityProblem(device, current, campaign.Eligibility, describe) is { } rule)
        {
            return new CampaignJudgement(OfferVerdict.NotEligible, null, -1, rule);
        }

        if (!campaign.TargetsByModel.TryGetValue(facts.Model, out var target))
        {
            // A paused or halted campaign's entry carries no packages: it cannot say more than that it makes no offers.
            return campaign.ExposurePercent <= 0
                ? new CampaignJudgement(campaign.Halted ? OfferVerdict.Halted : OfferVerdict.Paused, null, -1,
                    describe ? $"campaign is {(campaign.Halted ? "halted" : "paused")}: no new offers" : string.Empty)
                : new CampaignJudgement(OfferVerdict.NoTarget, null, -1, describe ? $"no target for model '{facts.Model}'" : string.Empty);
        }

        var package = SelectPackage(current, target, campaign.Rollback, device.RefusedDeltas);
        if (package is null)
        {
            return new CampaignJudgement(OfferVerdict.NothingToInstall, null, -1, describe
                ? campaign.Rollback
                    ? $"rollback target {target.Full.Manifest.Version} is not an authorized downgrade from {facts.CurrentVersion}"
                    : $"target {target.Full.Manifest.Version} is not newer than {facts.CurrentVersion}"
                : string.Empty);
        }

        var bucket = BucketOf(campaign.Salt, device.DeviceId, buckets);
        var stage = campaign.StageOf(bucket);
        if (!Bucketing.IsExposed(bucket, campaign.ExposurePercent))
        {
            var verdict = campaign.Halted ? OfferVerdict.Halted : campaign.ExposurePercent <= 0 ? OfferVerdict.Paused : OfferVerdict.NotExposed;
            return new CampaignJudgement(verdict, package, stage, describe ? DescribeExposure(verdict, bucket, stage, campaign) : string.Empty);
        }

        if (HaltedCohortOf(campaign, facts) is { } cohort)
        {
            return new CampaignJudgement(OfferVerdict.CohortHalted, package, stage, describe ? $"cohort halted: {cohort}" : string.Empty);
        }

        if (heldBy(campaign) is { } held)
        {
            return new CampaignJudgement(OfferVerdict.RetryHeld, package, stage, held);
        }

        if (Preflight(facts, package) is { } problem)
        {
            return new CampaignJudgement(OfferVerdict.Deferred, package, stage, describe ? $"{problem.Reason}: {problem.Detail}" : string.Empty);
        }

        return new CampaignJudgement(OfferVerdict.Offer, package, stage, describe
            ? $"package '{package.PackageId}' ({package.Manifest.Version}); bucket {bucket} in stage {stage + 1}, exposed at {campaign.ExposurePercent:0.##}%"
            : string.Empty);
    }

    private static HaltedCohort? HaltedCohortOf(ActiveCampaign campaign, DeviceFacts facts)
    {
        if (campaign.HaltedCohorts.IsDefaultOrEmpty)
        {
            return null;
        }

        foreach (var cohort in campaign.HaltedCohorts)
        {
            if (cohort.Holds(facts))
            {
                return cohort;
            }
        }

        return null;
    }

    private static string DescribeExposure(OfferVerdict verdict, int bucket, int stage, ActiveCampaign campaign)
    {
        var where = stage < 0 ? "in no stage of the plan" : $"in stage {stage + 1} ({campaign.StagePercents[stage]:0.##}%)";
        return verdict switch
        {
            OfferVerdict.Halted => $"campaign is halted: no new offers (bucket {bucket} {where})",
            OfferVerdict.Paused => $"campaign is paused: no new offers (bucket {bucket} {where})",
            _ => $"bucket {bucket} of {Bucketing.BucketCount} is {where}; exposure now {campaign.ExposurePercent:0.##}% (buckets below {Bucketing.ExposedBucketLimit(campaign.ExposurePercent)})",
        };
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
    public static bool IsEligible(DeviceContext device, FirmwareVersion current, Eligibility rules) =>
        EligibilityProblem(device, current, rules, describe: false) is null;

    /// <summary>
    /// The first rule that excludes the device, or null when it is eligible. With <paramref name="describe"/> false the
    /// answer is only null or not (an empty text), so the check-in builds no text.
    /// </summary>
    public static string? EligibilityProblem(DeviceContext device, FirmwareVersion current, Eligibility rules, bool describe)
    {
        if (!rules.DenyDevices.IsDefaultOrEmpty && rules.DenyDevices.Contains(device.DeviceId, StringComparer.Ordinal))
        {
            return describe ? "device is on the plan's deny list" : string.Empty;
        }

        if (!rules.AllowDevices.IsDefaultOrEmpty && rules.AllowDevices.Contains(device.DeviceId, StringComparer.Ordinal))
        {
            return null;
        }

        if (!rules.Tags.IsDefaultOrEmpty && (device.Tags.IsDefault || !rules.Tags.Any(t => device.Tags.Contains(t, StringComparer.Ordinal))))
        {
            return describe ? $"tags [{string.Join(", ", device.Tags.IsDefault ? [] : device.Tags)}] carry none of [{string.Join(", ", rules.Tags)}]" : string.Empty;
        }

        return EligibilityProblem(device.Facts, current, rules, describe);
    }

    public static bool IsEligible(DeviceFacts facts, FirmwareVersion current, Eligibility rules) =>
        EligibilityProblem(facts, current, rules, describe: false) is null;

    private static string? EligibilityProblem(DeviceFacts facts, FirmwareVersion current, Eligibility rules, bool describe)
    {
        static bool Allows(ImmutableArray<string> list, string value) =>
            list.IsDefaultOrEmpty || list.Contains(value, StringComparer.Ordinal);

        string? Excluded(string rule, string value, ImmutableArray<string> allowed) =>
            describe ? $"{rule} '{value}' is not in [{string.Join(", ", allowed)}]" : string.Empty;

        if (!Allows(rules.Models, facts.Model))
        {
            return Excluded("model", facts.Model, rules.Models);
        }

        if (!Allows(rules.HardwareRevisions, facts.HardwareRevision))
        {
            return Excluded("hardware revision", facts.HardwareRevision, rules.HardwareRevisions);
        }

        if (!Allows(rules.Regions, facts.Region))
        {
            return Excluded("region", facts.Region, rules.Regions);
        }

        if (!Allows(rules.Carriers, facts.Carrier))
        {
            return Excluded("carrier", facts.Carrier, rules.Carriers);
        }

        if (!rules.CurrentVersions.IsDefaultOrEmpty && !rules.CurrentVersions.Any(v => FirmwareVersion.Parse(v) == current))
        {
            return Excluded("current version", facts.CurrentVersion, rules.CurrentVersions);
        }

        if (rules.MinCurrentVersion is not null && current < FirmwareVersion.Parse(rules.MinCurrentVersion))
        {
            return describe ? $"current version {facts.CurrentVersion} is below the minimum {rules.MinCurrentVersion}" : string.Empty;
        }

        if (rules.MaxCurrentVersion is not null && current > FirmwareVersion.Parse(rules.MaxCurrentVersion))
        {
            return describe ? $"current version {facts.CurrentVersion} is above the maximum {rules.MaxCurrentVersion}" : string.Empty;
        }

        return null;
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
