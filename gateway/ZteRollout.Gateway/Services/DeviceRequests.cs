using Google.Protobuf.WellKnownTypes;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Versions;
using V1 = ZteRollout.Device.V1;

namespace ZteRollout.Gateway.Services;

/// <summary>Validation of device requests (every problem named by its field) and mapping to and from domain records.</summary>
public static class DeviceRequests
{
    private const int MaxTextLength = 128;
    private const int MaxDetailLength = 2048;

    public static DeviceFacts ToFacts(V1.DeviceFacts? facts, ViolationList problems)
    {
        if (facts is null)
        {
            problems.Add("facts", "is required");
            return null!;
        }

        Text(facts.Model, "facts.model", problems, required: true);
        Text(facts.HardwareRevision, "facts.hardware_revision", problems);
        Text(facts.Region, "facts.region", problems);
        Text(facts.Carrier, "facts.carrier", problems);
        Text(facts.AgentVersion, "facts.agent_version", problems);
        if (!FirmwareVersion.TryParse(facts.CurrentVersion, out _, out var versionProblem))
        {
            problems.Add("facts.current_version", versionProblem);
        }

        if (facts.ActiveSlot == V1.Slot.Unspecified)
        {
            problems.Add("facts.active_slot", "must be SLOT_A or SLOT_B");
        }

        if (facts.BatteryPercent > 100)
        {
            problems.Add("facts.battery_percent", $"must be 0-100, got {facts.BatteryPercent}");
        }

        if (facts.FreeStorageBytes > long.MaxValue)
        {
            problems.Add("facts.free_storage_bytes", "is too large");
        }

        return new DeviceFacts(facts.Model, facts.HardwareRevision, facts.Region, facts.Carrier, facts.CurrentVersion,
            ToSlot(facts.ActiveSlot), (int)Math.Min(facts.BatteryPercent, 100), (long)Math.Min(facts.FreeStorageBytes, long.MaxValue), facts.AgentVersion);
    }

    public static DeviceReport ToReport(V1.ReportRequest request, ViolationList problems)
    {
        Text(request.OfferId, "offer_id", problems, required: true);
        Text(request.ReportId, "report_id", problems, required: true);
        Text(request.ErrorCode, "error_code", problems);
        if (request.Detail.Length > MaxDetailLength)
        {
            problems.Add("detail", $"must be at most {MaxDetailLength} characters");
        }

        if (request.Step == V1.InstallStep.Unspecified || !System.Enum.IsDefined(request.Step))
        {
            problems.Add("step", "must be one of DOWNLOADING, DOWNLOADED, VERIFIED, INSTALLING, INSTALLED, SUCCEEDED, FAILED, ROLLED_BACK");
        }

        if (request.RunningVersion.Length > 0 && !FirmwareVersion.TryParse(request.RunningVersion, out _, out var versionProblem))
        {
            problems.Add("running_version", versionProblem);
        }

        if (request.BytesDownloaded > long.MaxValue)
        {
            problems.Add("bytes_downloaded", "is too large");
        }

        return new DeviceReport(request.OfferId, request.ReportId, ToStatus(request.Step), (long)Math.Min(request.BytesDownloaded, long.MaxValue),
            NullIfEmpty(request.ErrorCode), NullIfEmpty(request.Detail), NullIfEmpty(request.RunningVersion), ToSlot(request.ActiveSlot));
    }

    public static void Text(string value, string field, ViolationList problems, bool required = false)
    {
        if (required && string.IsNullOrWhiteSpace(value))
        {
            problems.Add(field, "is required");
        }
        else if (value.Length > MaxTextLength)
        {
            problems.Add(field, $"must be at most {MaxTextLength} characters");
        }
    }

    public static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    public static BootSlot ToSlot(V1.Slot slot) => slot switch
    {
        V1.Slot.A => BootSlot.A,
        V1.Slot.B => BootSlot.B,
        _ => BootSlot.Unspecified,
    };

    public static V1.Slot ToProto(BootSlot slot) => slot switch
    {
        BootSlot.A => V1.Slot.A,
        BootSlot.B => V1.Slot.B,
        _ => V1.Slot.Unspecified,
    };

    public static OfferStatus ToStatus(V1.InstallStep step) => step switch
    {
        V1.InstallStep.Downloading => OfferStatus.Downloading,
        V1.InstallStep.Downloaded => OfferStatus.Downloaded,
        V1.InstallStep.Verified => OfferStatus.Verified,
        V1.InstallStep.Installing => OfferStatus.Installing,
        V1.InstallStep.Installed => OfferStatus.Installed,
        V1.InstallStep.Succeeded => OfferStatus.Succeeded,
        V1.InstallStep.Failed => OfferStatus.Failed,
        V1.InstallStep.RolledBack => OfferStatus.RolledBack,
        _ => OfferStatus.Offered,
    };

    /// <summary>Proto and domain statuses share names; the proto numbering is the domain's, by design.</summary>
    public static V1.OfferStatus ToProto(OfferStatus status) => (V1.OfferStatus)(int)status;

    public static V1.DeviceFacts ToProto(DeviceFacts facts) => new()
    {
        Model = facts.Model,
        HardwareRevision = facts.HardwareRevision,
        Region = facts.Region,
        Carrier = facts.Carrier,
        CurrentVersion = facts.CurrentVersion,
        ActiveSlot = ToProto(facts.ActiveSlot),
        BatteryPercent = (uint)facts.BatteryPercent,
        FreeStorageBytes = (ulong)facts.FreeStorageBytes,
        AgentVersion = facts.AgentVersion,
    };

    public static V1.Offer ToProto(OfferRecord offer) => new()
    {
        OfferId = offer.OfferId,
        CampaignId = offer.CampaignId,
        PackageId = offer.PackageId,
        Manifest = Google.Protobuf.ByteString.CopyFrom(offer.ManifestBytes),
        ManifestSignature = Google.Protobuf.ByteString.CopyFrom(offer.ManifestSignature),
        DownloadSize = (ulong)offer.Size,
        Deadline = Timestamp.FromDateTimeOffset(offer.Deadline),
        PayloadFormat = offer.DeltaFormat ?? string.Empty,
    };

    public static V1.CheckInResponse ToProto(CheckInResult result)
    {
        var response = new V1.CheckInResponse { NextCheckInSeconds = (uint)result.NextCheckInSeconds };
        switch (result.Outcome)
        {
            case CheckInOutcome.Offer:
                response.Offer = ToProto(result.Offer!);
                break;
            case CheckInOutcome.Deferred:
                response.Deferred = new V1.Deferral
                {
                    Reason = result.DeferralReason switch
                    {
                        Shared.Campaigns.DeferralReason.BatteryLow => V1.DeferralReason.BatteryLow,
                        Shared.Campaigns.DeferralReason.InsufficientStorage => V1.DeferralReason.InsufficientStorage,
                        _ => V1.DeferralReason.Unspecified,
                    },
                    Detail = result.DeferralDetail ?? string.Empty,
                };
                break;
            default:
                response.NoUpdate = new V1.NoUpdate();
                break;
        }

        return response;
    }
}
