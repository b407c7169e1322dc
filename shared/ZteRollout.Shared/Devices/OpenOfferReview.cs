using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Shared.Devices;

/// <summary>
/// Codes an offer closed by the server carries in its error code (and its campaign ledger row), so operators and
/// counts can tell why it closed. Only <see cref="TimedOut"/> is a failure.
/// </summary>
public static class OfferCloseCodes
{
    /// <summary>TIMED_OUT: the in-progress deadline passed.</summary>
    public const string TimedOut = "E_TIMED_OUT";

    /// <summary>SUCCEEDED without the device's report: it checked in running the target (its report was lost).</summary>
    public const string SucceededInferred = "SUCCEEDED_INFERRED";

    /// <summary>CANCELED: the device checked in running neither the offer's source version nor its target.</summary>
    public const string WithdrawnVersionChanged = "WITHDRAWN_VERSION_CHANGED";

    /// <summary>CANCELED: the campaign was halted before the device started downloading.</summary>
    public const string WithdrawnHalted = "WITHDRAWN_CAMPAIGN_HALTED";

    /// <summary>
    /// FAILED report of a generated delta whose base image the device does not hold (its active slot hashes otherwise):
    /// the offer is closed as CANCELED with this code (the server chose a package that does not fit; not an install
    /// failure, no retry attempt spent) and the device is offered the FULL next.
    /// </summary>
    public const string DeltaBaseImageMismatch = "E_DELTA_BASE_SHA256";
}

/// <summary>What becomes of a device's open offer when the device checks in.</summary>
public enum OpenOfferVerdict
{
    /// <summary>It stays the device's one offer and is returned again.</summary>
    Keep,

    /// <summary>The device runs the target: the offer completes as SUCCEEDED, inferred.</summary>
    SucceededInferred,

    /// <summary>The in-progress deadline passed: TIMED_OUT (a failure).</summary>
    TimedOut,

    /// <summary>The device runs another version than the offer was made for: withdrawn (CANCELED, not a failure).</summary>
    WithdrawnVersionChanged,

    /// <summary>Its campaign is halted and the download has not started: withdrawn (CANCELED, not a failure).</summary>
    WithdrawnHalted,

    /// <summary>Its campaign is no longer in the snapshot (cancelled or completed) before the download started.</summary>
    CampaignEnded,
}

/// <summary>The check-in's review of an open offer against what the device reports it runs, as a pure function.</summary>
public static class OpenOfferReview
{
    /// <param name="offer">The device's open offer.</param>
    /// <param name="runningVersion">The version the device reports at this check-in.</param>
    /// <param name="campaign">The offer's campaign in the silo's snapshot; null when it is not there.</param>
    /// <param name="now">The rollout clock's time.</param>
    /// <remarks>
    /// Running the target comes first, even past the deadline: a device that runs the new version installed it, and
    /// counting it as a timeout would feed a false halt. Then the deadline, as the campaign's sweep would judge it.
    /// A device on neither version (flashed out of band) has no use for the offer: its package may be a downgrade
    /// now or a delta from a base it left. A halt or an ended campaign withdraws only offers not yet downloading.
    /// </remarks>
    public static OpenOfferVerdict Review(OfferRecord offer, string runningVersion, ActiveCampaign? campaign, DateTimeOffset now)
    {
        if (SameVersion(runningVersion, offer.TargetVersion))
        {
            return OpenOfferVerdict.SucceededInferred;
        }

        if (now > offer.Deadline)
        {
            return OpenOfferVerdict.TimedOut;
        }

        if (!SameVersion(runningVersion, offer.SourceVersion))
        {
            return OpenOfferVerdict.WithdrawnVersionChanged;
        }

        if (offer.Status == OfferStatus.Offered)
        {
            if (campaign is null)
            {
                return OpenOfferVerdict.CampaignEnded;
            }

            if (campaign.Halted)
            {
                return OpenOfferVerdict.WithdrawnHalted;
            }
        }

        return OpenOfferVerdict.Keep;
    }

    /// <summary>The status and code an offer closes with on a verdict other than <see cref="OpenOfferVerdict.Keep"/>.</summary>
    public static (OfferStatus Status, string? Code) Closing(OpenOfferVerdict verdict) => verdict switch
    {
        OpenOfferVerdict.SucceededInferred => (OfferStatus.Succeeded, OfferCloseCodes.SucceededInferred),
        OpenOfferVerdict.TimedOut => (OfferStatus.TimedOut, OfferCloseCodes.TimedOut),
        OpenOfferVerdict.WithdrawnVersionChanged => (OfferStatus.Canceled, OfferCloseCodes.WithdrawnVersionChanged),
        OpenOfferVerdict.WithdrawnHalted => (OfferStatus.Canceled, OfferCloseCodes.WithdrawnHalted),
        OpenOfferVerdict.CampaignEnded => (OfferStatus.Canceled, null),
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, "a kept offer does not close"),
    };

    /// <summary>Equal in the firmware version order (<c>b07</c> = <c>B7</c>); as text when either does not parse.</summary>
    public static bool SameVersion(string? a, string? b) =>
        FirmwareVersion.TryParse(a, out var x, out _) && FirmwareVersion.TryParse(b, out var y, out _)
            ? x == y
            : string.Equals(a, b, StringComparison.Ordinal);
}
