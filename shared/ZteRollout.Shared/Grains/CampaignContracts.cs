using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;

namespace ZteRollout.Shared.Grains;

/// <summary>One campaign: plan, lifecycle and audit log. Key: the campaign id.</summary>
[Alias("zte.ICampaignGrain")]
public interface ICampaignGrain : IGrainWithStringKey
{
    /// <summary>Validates and stores a new DRAFT campaign.</summary>
    [Alias("Create")]
    Task<CampaignView> CreateAsync(CampaignPlan plan, string actor);

    [Alias("Start")]
    Task<CampaignView> StartAsync(string actor, string reason);

    [Alias("Cancel")]
    Task<CampaignView> CancelAsync(string actor, string reason);

    /// <summary>The campaign with its counts; NotFound when it was never created.</summary>
    [Alias("Get")]
    Task<CampaignView> GetAsync();

    /// <summary>What device grains need to decide, or null when the campaign is not running.</summary>
    [Alias("GetActive")]
    Task<ActiveCampaign?> GetActiveAsync();
}

[GenerateSerializer, Immutable, Alias("zte.CampaignView")]
public sealed record CampaignView(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] CampaignPlan Plan,
    [property: Id(2)] CampaignState State,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] ImmutableArray<AuditEntry> Audit,
    [property: Id(5)] CampaignCounts Counts);

/// <summary>Devices of a campaign by their latest status; each device counts once.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignCounts")]
public sealed record CampaignCounts(
    [property: Id(0)] long Offered,
    [property: Id(1)] long InProgress,
    [property: Id(2)] long Installed,
    [property: Id(3)] long Succeeded,
    [property: Id(4)] long Failed,
    [property: Id(5)] long RolledBack,
    [property: Id(6)] long TimedOut,
    [property: Id(7)] long Deferred,
    [property: Id(8)] long Canceled)
{
    public static CampaignCounts Zero { get; } = new(0, 0, 0, 0, 0, 0, 0, 0, 0);

    public CampaignCounts Add(CampaignCounts o) => new(
        Offered + o.Offered, InProgress + o.InProgress, Installed + o.Installed, Succeeded + o.Succeeded, Failed + o.Failed,
        RolledBack + o.RolledBack, TimedOut + o.TimedOut, Deferred + o.Deferred, Canceled + o.Canceled);
}

/// <summary>Where a device stands in a campaign, as counted.</summary>
[GenerateSerializer]
public enum DeviceOutcome
{
    Deferred = 1,
    Offered = 2,
    InProgress = 3,
    Installed = 4,
    Succeeded = 5,
    Failed = 6,
    RolledBack = 7,
    TimedOut = 8,
    Canceled = 9,
}

/// <summary>The cohort a device belongs to, so counts (and later halts) can name where failures are.</summary>
[GenerateSerializer, Immutable, Alias("zte.Cohort")]
public sealed record Cohort(
    [property: Id(0)] string Model,
    [property: Id(1)] string HardwareRevision,
    [property: Id(2)] string Region,
    [property: Id(3)] string Carrier,
    [property: Id(4)] string SourceVersion);

/// <summary>
/// A device's latest status in a campaign. <see cref="Sequence"/> grows per device, so applying an event
/// twice, or an older one after a newer, changes nothing: counting is exactly-once across retries.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.OutcomeEvent")]
public sealed record OutcomeEvent(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] string DeviceId,
    [property: Id(2)] long Sequence,
    [property: Id(3)] DeviceOutcome Outcome,
    [property: Id(4)] string? ErrorCode,
    [property: Id(5)] Cohort Cohort)
{
    public static DeviceOutcome FromStatus(OfferStatus status) => status switch
    {
        OfferStatus.Offered => DeviceOutcome.Offered,
        OfferStatus.Installed => DeviceOutcome.Installed,
        OfferStatus.Succeeded => DeviceOutcome.Succeeded,
        OfferStatus.Failed => DeviceOutcome.Failed,
        OfferStatus.RolledBack => DeviceOutcome.RolledBack,
        OfferStatus.TimedOut => DeviceOutcome.TimedOut,
        OfferStatus.Canceled => DeviceOutcome.Canceled,
        _ => DeviceOutcome.InProgress,
    };
}

/// <summary>
/// One shard of a campaign's outcome counts. Key: "{campaignId}/{shard}". Devices map to shards by a stable hash,
/// so no single grain sees every outcome of a large campaign.
/// </summary>
[Alias("zte.ICampaignStatsGrain")]
public interface ICampaignStatsGrain : IGrainWithStringKey
{
    /// <summary>Applies events (idempotently) and returns once they are stored.</summary>
    [Alias("Apply")]
    Task ApplyAsync(ImmutableArray<OutcomeEvent> events);

    [Alias("GetCounts")]
    Task<CampaignCounts> GetCountsAsync();
}

/// <summary>The fleet-wide list of campaigns and the versioned snapshot of the running ones. Key: 0.</summary>
[Alias("zte.ICampaignDirectoryGrain")]
public interface ICampaignDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Records a campaign's new state with what devices need of it while it runs (<paramref name="active"/>, null
    /// when it does not run), and publishes a new snapshot when that changed. Campaigns push; the directory never
    /// calls a campaign grain back, so the two cannot deadlock.
    /// </summary>
    [Alias("Record")]
    Task RecordAsync(string campaignId, CampaignState state, ActiveCampaign? active);

    /// <summary>Adds a new delta to the running campaigns whose target it matches, and publishes.</summary>
    [Alias("PackageAdded")]
    Task PackageAddedAsync(Packages.PackageRecord package);

    /// <summary>Campaign ids, newest first, optionally in one state.</summary>
    [Alias("List")]
    Task<ImmutableArray<string>> ListAsync(CampaignState? state);

    /// <summary>
    /// The snapshot when newer than <paramref name="knownVersion"/>, else null. The caller's observer is
    /// (re)subscribed by the same call, so a directory that lost its subscribers (it moved to another silo)
    /// has them back within one poll; subscriptions lapse unless renewed this way.
    /// </summary>
    [Alias("Poll")]
    Task<CampaignSnapshot?> PollAsync(long knownVersion, ISnapshotObserver? observer);
}

/// <summary>A silo's snapshot cache, told of every new snapshot.</summary>
[Alias("zte.ISnapshotObserver")]
public interface ISnapshotObserver : IGrainObserver
{
    [Alias("OnSnapshot")]
    Task OnSnapshotAsync(CampaignSnapshot snapshot);
}
