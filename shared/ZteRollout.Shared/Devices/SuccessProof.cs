using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Devices;

/// <summary>
/// Installed is not succeeded (invariant 9): a SUCCEEDED report must show the device booted the new firmware — the
/// offer's target running, from the other slot than the one it ran when offered. A boot back into the old slot is
/// ROLLED_BACK, whatever the device calls it.
/// </summary>
public static class SuccessProof
{
    /// <summary>The problem with the report's proof, naming its field; null when it proves the success.</summary>
    public static FieldViolation? Problem(OfferRecord offer, DeviceReport report)
    {
        if (string.IsNullOrEmpty(report.RunningVersion))
        {
            return new FieldViolation("running_version",
                $"is required for SUCCEEDED: the version running after the reboot, which must be the target '{offer.TargetVersion}' of offer '{offer.OfferId}'");
        }

        if (!OpenOfferReview.SameVersion(report.RunningVersion, offer.TargetVersion))
        {
            return new FieldViolation("running_version",
                $"is '{report.RunningVersion}' but offer '{offer.OfferId}' installs '{offer.TargetVersion}'; report ROLLED_BACK or FAILED instead");
        }

        if (offer.SourceSlot == BootSlot.Unspecified)
        {
            return null;
        }

        var expected = offer.SourceSlot == BootSlot.A ? BootSlot.B : BootSlot.A;
        if (report.ActiveSlot == BootSlot.Unspecified)
        {
            return new FieldViolation("active_slot",
                $"is required for SUCCEEDED: the slot booted, which must be SLOT_{expected} (offer '{offer.OfferId}' was made while SLOT_{offer.SourceSlot} was active)");
        }

        if (report.ActiveSlot != expected)
        {
            return new FieldViolation("active_slot",
                $"is SLOT_{report.ActiveSlot}, the slot active when offer '{offer.OfferId}' was made; SUCCEEDED needs SLOT_{expected} active, a boot back into the old slot is ROLLED_BACK");
        }

        return null;
    }

    /// <summary>Throws InvalidArgument naming the field when the report does not prove the success.</summary>
    public static void Require(OfferRecord offer, DeviceReport report)
    {
        if (Problem(offer, report) is { } problem)
        {
            throw RolloutException.InvalidField(problem.Field, problem.Description);
        }
    }
}
