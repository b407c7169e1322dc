using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;

namespace ZteRollout.Shared.Grains;

/// <summary>One device: its credential, facts, current offer and install ledger. Key: the device id.</summary>
[Alias("zte.IDeviceGrain")]
public interface IDeviceGrain : IGrainWithStringKey
{
    /// <summary>Provisions the device, or gives it a new credential when <paramref name="rotate"/> is set.</summary>
    /// <exception cref="Errors.RolloutException">AlreadyExists when registered and not rotating.</exception>
    [Alias("Register")]
    Task RegisterAsync(byte[] credentialHash, ImmutableArray<string> tags, bool rotate);

    [Alias("IsRegistered")]
    Task<bool> IsRegisteredAsync();

    /// <summary>True when the presented secret hash is this device's (constant-time compare).</summary>
    [Alias("VerifyCredential")]
    Task<bool> VerifyCredentialAsync(byte[] presentedHash);

    /// <summary>Records the facts and decides: nothing, the open offer, a new offer, or a deferral.</summary>
    [Alias("CheckIn")]
    Task<CheckInResult> CheckInAsync(DeviceFacts facts);

    /// <summary>
    /// <see cref="CheckInAsync"/> for a caller whose credential is not verified yet: checks the presented secret hash
    /// first and returns null (changing nothing) when it is not this device's, so a check-in is one grain call either way.
    /// </summary>
    [Alias("CheckInWithCredential")]
    Task<CheckInResult?> CheckInWithCredentialAsync(byte[] presentedHash, DeviceFacts facts);

    /// <summary>Allows a download of the open offer's package from an offset; says which blob and how long.</summary>
    [Alias("AuthorizeDownload")]
    Task<DownloadGrant> AuthorizeDownloadAsync(string offerId, long offset);

    /// <summary>Applies one lifecycle report; returns only after it is stored.</summary>
    [Alias("Report")]
    Task<ReportResult> ReportAsync(DeviceReport report);

    [Alias("GetView")]
    Task<DeviceView> GetViewAsync();

    /// <summary>Times out the offer when it is still open and past its deadline (the campaign's sweep calls this).</summary>
    [Alias("ExpireOffer")]
    Task ExpireOfferAsync(string offerId);

    /// <summary>
    /// Why each campaign of the silo's snapshot does or does not offer the device now, judged by the check-in's own
    /// code over the facts of its last check-in; changes nothing (not even a rate limit token).
    /// </summary>
    [Alias("Explain")]
    Task<DeviceExplanation> ExplainAsync();

    /// <summary>
    /// A check-in for an agent that sends no facts with its poll (hawkBit DDI): decides on the stored facts exactly as
    /// <see cref="CheckInAsync"/> does. With <paramref name="presentedHash"/> it verifies the secret first and returns
    /// null (changing nothing) when it is not this device's; without, the caller verified it lately.
    /// </summary>
    [Alias("CheckInWithStoredFacts")]
    Task<StoredFactsCheckIn?> CheckInWithStoredFactsAsync(byte[]? presentedHash);

    /// <summary>Merges attributes into the stored facts (all of them when <paramref name="replace"/>) and checks in with them.</summary>
    /// <exception cref="Errors.RolloutException">InvalidArgument naming the domain field eligibility still lacks.</exception>
    [Alias("MergeFacts")]
    Task<CheckInResult> MergeFactsAsync(DeviceFactsPatch patch, bool replace);

    /// <summary>The device's offer with this number (<see cref="OfferNumbers"/>), open or in its history; null when none.</summary>
    [Alias("FindOffer")]
    Task<OfferRecord?> FindOfferAsync(long offerNumber);

    /// <summary>
    /// The device's current offer with this number when it is being canceled: withdrawn by its campaign's end and not
    /// acknowledged yet, or open, not yet installing, with its campaign ended. Null otherwise.
    /// </summary>
    [Alias("FindCancelingOffer")]
    Task<OfferRecord?> FindCancelingOfferAsync(long offerNumber);

    /// <summary>
    /// Records that the device acknowledged the cancellation of its offer (it is no longer told); an offer still open
    /// (not yet installing, its campaign ended) is withdrawn then, as CANCELED.
    /// </summary>
    /// <exception cref="Errors.RolloutException">FailedPrecondition when the offer is not being canceled; NotFound when the device has none such.</exception>
    [Alias("AcknowledgeCancel")]
    Task AcknowledgeCancelAsync(string offerId);
}

/// <summary>
/// What a check-in on stored facts decided (null when no facts are stored yet), whether the device should send its
/// attributes again, and its offer that was canceled and whose cancellation it has not acknowledged.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.StoredFactsCheckIn")]
public sealed record StoredFactsCheckIn(
    [property: Id(0)] CheckInResult? CheckIn,
    [property: Id(1)] bool FactsRequested,
    [property: Id(2)] OfferRecord? CancelNotice);

/// <summary>What a check-in decided.</summary>
[GenerateSerializer]
public enum CheckInOutcome
{
    NoUpdate = 1,
    Offer = 2,
    Deferred = 3,
}

[GenerateSerializer, Immutable, Alias("zte.CheckInResult")]
public sealed record CheckInResult(
    [property: Id(0)] CheckInOutcome Outcome,
    [property: Id(1)] OfferRecord? Offer,
    [property: Id(2)] DeferralReason? DeferralReason,
    [property: Id(3)] string? DeferralDetail,
    [property: Id(4)] int NextCheckInSeconds);

/// <summary>One offer made to a device and how far it got.</summary>
[GenerateSerializer, Immutable, Alias("zte.OfferRecord")]
public sealed record OfferRecord(
    [property: Id(0)] string OfferId,
    [property: Id(1)] string CampaignId,
    [property: Id(2)] string PackageId,
    [property: Id(3)] string TargetVersion,
    [property: Id(4)] byte[] ManifestBytes,
    [property: Id(5)] byte[] ManifestSignature,
    [property: Id(6)] long Size,
    [property: Id(7)] string Sha256,
    [property: Id(8)] OfferStatus Status,
    [property: Id(9)] long BytesDownloaded,
    [property: Id(10)] string? ErrorCode,
    [property: Id(11)] DateTimeOffset OfferedAt,
    [property: Id(12)] DateTimeOffset UpdatedAt,
    [property: Id(13)] DateTimeOffset Deadline,
    [property: Id(14)] ImmutableArray<string> AppliedReportIds,
    [property: Id(15)] string SourceVersion)
{
    /// <summary>The campaign stage the device's bucket belongs to.</summary>
    [Id(16)]
    public int Stage { get; init; }

    /// <summary>
    /// The slot the device booted from when offered; a SUCCEEDED report must come from the other one. Unspecified for
    /// offers stored before slots were recorded (their success needs the running version only).
    /// </summary>
    [Id(17)]
    public BootSlot SourceSlot { get; init; }

    /// <summary>How the device applies the package: null as it is, <c>zstd-patch-1</c> for a generated delta.</summary>
    [Id(20)]
    public string? DeltaFormat { get; init; }

    /// <summary>DOWNLOADING progress reports taken for this offer; bounded by <c>Rollout:Silo:MaxProgressReportsPerOffer</c>.</summary>
    [Id(18)]
    public int ProgressReports { get; init; }
}

/// <summary>The blob a download may read.</summary>
[GenerateSerializer, Immutable, Alias("zte.DownloadGrant")]
public sealed record DownloadGrant([property: Id(0)] string Sha256, [property: Id(1)] long Size);

/// <summary>One lifecycle report from a device.</summary>
[GenerateSerializer, Immutable, Alias("zte.DeviceReport")]
public sealed record DeviceReport(
    [property: Id(0)] string OfferId,
    [property: Id(1)] string ReportId,
    [property: Id(2)] OfferStatus Step,
    [property: Id(3)] long BytesDownloaded,
    [property: Id(4)] string? ErrorCode,
    [property: Id(5)] string? Detail,
    [property: Id(6)] string? RunningVersion,
    [property: Id(7)] BootSlot ActiveSlot)
{
    /// <summary>
    /// A progress note of an agent that does not track our lifecycle (hawkBit DDI): moves the offer forward when the
    /// lifecycle allows it, and is otherwise acknowledged without a change instead of refused.
    /// </summary>
    [Id(8)]
    public bool ProgressNote { get; init; }
}

[GenerateSerializer, Immutable, Alias("zte.ReportResult")]
public sealed record ReportResult([property: Id(0)] OfferStatus Status, [property: Id(1)] bool Duplicate);

/// <summary>The server's view of a device, for operators.</summary>
[GenerateSerializer, Immutable, Alias("zte.DeviceView")]
public sealed record DeviceView(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] ImmutableArray<string> Tags,
    [property: Id(2)] DeviceFacts? Facts,
    [property: Id(3)] DateTimeOffset? LastCheckIn,
    [property: Id(4)] OfferRecord? CurrentOffer,
    [property: Id(5)] ImmutableArray<OfferRecord> History,
    [property: Id(6)] string? CurrentVersion,
    [property: Id(7)] BootSlot ActiveSlot);

/// <summary>Why the device would or would not get an offer at a check-in now: an overall answer, then one line per campaign.</summary>
[GenerateSerializer, Immutable, Alias("zte.DeviceExplanation")]
public sealed record DeviceExplanation(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] string Summary,
    [property: Id(2)] ImmutableArray<CampaignExplanation> Campaigns,
    [property: Id(3)] long SnapshotVersion);

/// <summary>One campaign's verdict for a device; <see cref="Stage"/> is the 0-based stage of its bucket, −1 when not computed.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignExplanation")]
public sealed record CampaignExplanation(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] Campaigns.OfferVerdict Verdict,
    [property: Id(2)] string Detail,
    [property: Id(3)] int Stage);
