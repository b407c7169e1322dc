using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Devices;

/// <summary>
/// A device's success awaiting its health confirmation (the plan's health window): the offer that succeeded, when,
/// and from when a sighting of the device healthy on the new version confirms it.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.HealthWatch")]
public sealed record HealthWatch(
    [property: Id(0)] string OfferId,
    [property: Id(1)] DateTimeOffset SucceededAt,
    [property: Id(2)] DateTimeOffset ConfirmableAt);

/// <summary>What a sighting of the device (a check-in, or a report on the watched offer) makes of a watched success.</summary>
public enum HealthVerdict
{
    /// <summary>Healthy on the new version, but the window has not passed yet: still pending confirmation.</summary>
    Pending,

    /// <summary>Healthy on the new version at least the window after its success: a confirmed success.</summary>
    Confirmed,

    /// <summary>Back on the version or slot it was offered on: ROLLED_BACK, a failure.</summary>
    RolledBack,

    /// <summary>The device reported FAILED for the offer after its success: a failure.</summary>
    Failed,

    /// <summary>Running neither the target nor the version it was offered on (flashed out of band): FAILED, not confirmable.</summary>
    LeftTarget,
}

/// <summary>
/// Health-gated success (docs/design.md, "Health-gated success") as pure functions: a success counts for halts and
/// gates only once the device is seen healthy on the new version at least the window after it; anything else seen
/// first — a rollback, a FAILED report, another version — turns it into a failure.
/// </summary>
public static class HealthConfirmation
{
    /// <summary>ROLLED_BACK: the device checked in on the old version or slot inside its health window.</summary>
    public const string RolledBackCode = "E_ROLLED_BACK_IN_HEALTH_WINDOW";

    /// <summary>FAILED: the device checked in on another version than the target inside its health window.</summary>
    public const string LeftTargetCode = "E_LEFT_TARGET_IN_HEALTH_WINDOW";

    /// <summary>The watch a success of <paramref name="offer"/> at <paramref name="succeededAt"/> starts, or null without a health window.</summary>
    public static HealthWatch? Start(OfferRecord offer, TimeSpan? window, DateTimeOffset succeededAt) =>
        window is { } w && w > TimeSpan.Zero ? new HealthWatch(offer.OfferId, succeededAt, succeededAt + w) : null;

    /// <summary>
    /// A check-in's verdict on the watched success of <paramref name="offer"/>. The boot slot is the authority, as for
    /// the success itself (invariant 9): the old slot active is a rollback whatever version the device names.
    /// </summary>
    public static HealthVerdict OfCheckIn(OfferRecord offer, HealthWatch watch, string runningVersion, BootSlot activeSlot, DateTimeOffset now)
    {
        if (offer.SourceSlot != BootSlot.Unspecified && activeSlot == offer.SourceSlot)
        {
            return HealthVerdict.RolledBack;
        }

        if (!OpenOfferReview.SameVersion(runningVersion, offer.TargetVersion))
        {
            return OpenOfferReview.SameVersion(runningVersion, offer.SourceVersion) ? HealthVerdict.RolledBack : HealthVerdict.LeftTarget;
        }

        return Elapsed(watch, now);
    }

    /// <summary>
    /// A report's verdict on the watched success: a SUCCEEDED report (with its proof, checked by the caller) is a
    /// healthy sighting; ROLLED_BACK and FAILED are failures whenever they come before the confirmation, since the
    /// device cannot say when inside its window it failed. Null for a step that says nothing about health.
    /// </summary>
    public static HealthVerdict? OfReport(HealthWatch watch, OfferStatus step, DateTimeOffset now) => step switch
    {
        OfferStatus.Succeeded => Elapsed(watch, now),
        OfferStatus.RolledBack => HealthVerdict.RolledBack,
        OfferStatus.Failed => HealthVerdict.Failed,
        _ => null,
    };

    /// <summary>The status and default error code a failing verdict closes the offer with.</summary>
    public static (OfferStatus Status, string Code) Failure(HealthVerdict verdict) => verdict switch
    {
        HealthVerdict.RolledBack => (OfferStatus.RolledBack, RolledBackCode),
        HealthVerdict.Failed => (OfferStatus.Failed, "E_UNSPECIFIED"),
        HealthVerdict.LeftTarget => (OfferStatus.Failed, LeftTargetCode),
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, "not a failure"),
    };

    /// <summary>
    /// The check-in interval to give a device whose success is pending: no later than the moment it becomes
    /// confirmable, so its confirmation does not wait a whole interval (at least one second).
    /// </summary>
    public static int NextCheckInSeconds(HealthWatch watch, DateTimeOffset now, int interval)
    {
        var left = Math.Ceiling((watch.ConfirmableAt - now).TotalSeconds);
        return (int)Math.Clamp(left, 1, Math.Max(1, interval));
    }

    private static HealthVerdict Elapsed(HealthWatch watch, DateTimeOffset now) =>
        now >= watch.ConfirmableAt ? HealthVerdict.Confirmed : HealthVerdict.Pending;
}
