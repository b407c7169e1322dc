using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using ZteRollout.Protos.Mapping;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;
using A = ZteRollout.Admin.V1;

namespace ZteRollout.Gateway.Services;

/// <summary>Validation and mapping of admin requests and views.</summary>
public static partial class AdminRequests
{
    public const int MaxReleaseNotes = 64 * 1024;
    public const int MaxRollbackFrom = 32;
    public const int MaxTags = 32;

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex SimpleId();

    /// <summary>A plain file name: no directory part, no leading dot (so never "." or ".."), no spaces or quotes.</summary>
    [GeneratedRegex("^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}$")]
    private static partial Regex PlainFileName();

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex HexSha256();

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$")]
    private static partial Regex RequestIdPattern();

    /// <summary>A call's optional client request id (null when not sent); InvalidArgument naming request_id when malformed.</summary>
    public static string? RequestId(string requestId) =>
        requestId.Length == 0 ? null
        : RequestIdPattern().IsMatch(requestId) ? requestId
        : throw RolloutException.InvalidField("request_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -");

    /// <summary>An advance's from_stage as the grain's 0-based stage.</summary>
    public static int Stage(uint fromStage) =>
        fromStage <= int.MaxValue ? (int)fromStage : throw RolloutException.InvalidField("from_stage", $"{fromStage} is not a stage");

    public static PackageMetadata ToMetadata(A.PackageMetadata m)
    {
        var problems = new ViolationList();
        FirmwareVersion.TryParse(m.Version, out var version, out var versionProblem);
        if (versionProblem is not null)
        {
            problems.Add("metadata.version", versionProblem);
        }

        if (m.TargetModels.Count == 0)
        {
            problems.Add("metadata.target_models", "must name at least one model");
        }

        for (var i = 0; i < m.TargetModels.Count; i++)
        {
            if (!SimpleId().IsMatch(m.TargetModels[i]))
            {
                problems.Add($"metadata.target_models[{i}]", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
            }
        }

        if (m.TargetModels.Distinct(StringComparer.Ordinal).Count() != m.TargetModels.Count)
        {
            problems.Add("metadata.target_models", "lists a model twice");
        }

        var kind = m.Kind switch
        {
            A.PackageKind.Full => PackageKind.Full,
            A.PackageKind.Delta => PackageKind.Delta,
            _ => (PackageKind?)null,
        };
        if (kind is null)
        {
            problems.Add("metadata.kind", "must be PACKAGE_KIND_FULL or PACKAGE_KIND_DELTA");
        }

        if (kind == PackageKind.Delta)
        {
            if (!FirmwareVersion.TryParse(m.BaseVersion, out var baseVersion, out var baseProblem))
            {
                problems.Add("metadata.base_version", "a DELTA needs its base version: " + baseProblem);
            }
            else if (version is not null && baseVersion >= version)
            {
                problems.Add("metadata.base_version", $"base '{baseVersion}' must be below the version '{version}'");
            }
        }
        else if (kind == PackageKind.Full && m.BaseVersion.Length > 0)
        {
            problems.Add("metadata.base_version", "a FULL package has no base version");
        }

        if (m.MinBatteryPercent > 100)
        {
            problems.Add("metadata.min_battery_percent", $"must be 0-100, got {m.MinBatteryPercent}");
        }

        if (m.RequiredFreeBytes > long.MaxValue)
        {
            problems.Add("metadata.required_free_bytes", "is too large");
        }

        if (m.ReleaseNotes.Length > MaxReleaseNotes)
        {
            problems.Add("metadata.release_notes", $"must be at most {MaxReleaseNotes} characters");
        }

        if (m.ExpectedSha256.Length > 0 && !HexSha256().IsMatch(m.ExpectedSha256))
        {
            problems.Add("metadata.expected_sha256", "must be 64 hex digits");
        }

        ValidateRollbackFrom(m, version, kind, problems);
        if (m.Filename.Length > 0 && (!PlainFileName().IsMatch(m.Filename) || m.Filename.EndsWith(".MD5SUM", StringComparison.OrdinalIgnoreCase)))
        {
            problems.Add("metadata.filename", $"'{m.Filename}' must be a plain file name: 1-128 characters of A-Z a-z 0-9 . _ + -, not starting with a dot, not ending in .MD5SUM");
        }

        problems.ThrowIfAny();
        return new PackageMetadata(m.Version, [.. m.TargetModels], kind!.Value, kind == PackageKind.Delta ? m.BaseVersion : null,
            (long)m.RequiredFreeBytes, (int)m.MinBatteryPercent, m.ReleaseNotes)
        {
            SecurityVersion = m.SecurityVersion,
            RollbackFrom = [.. m.RollbackFrom],
            FileName = m.Filename.Length > 0 ? m.Filename : null,
        };
    }

    /// <summary>A rollback package names the higher versions it may replace; only a FULL image can be one.</summary>
    private static void ValidateRollbackFrom(A.PackageMetadata m, FirmwareVersion? version, PackageKind? kind, ViolationList problems)
    {
        if (m.RollbackFrom.Count == 0)
        {
            return;
        }

        if (kind == PackageKind.Delta)
        {
            problems.Add("metadata.rollback_from", "a DELTA cannot authorize a downgrade; a rollback package is a FULL image");
        }

        if (m.RollbackFrom.Count > MaxRollbackFrom)
        {
            problems.Add("metadata.rollback_from", $"must list at most {MaxRollbackFrom} versions");
            return;
        }

        var seen = new List<FirmwareVersion>();
        for (var i = 0; i < m.RollbackFrom.Count; i++)
        {
            if (!FirmwareVersion.TryParse(m.RollbackFrom[i], out var from, out var problem))
            {
                problems.Add($"metadata.rollback_from[{i}]", problem);
            }
            else if (version is not null && from <= version)
            {
                problems.Add($"metadata.rollback_from[{i}]", $"'{from}' must be above the package's version '{version}' (only a higher version is rolled back from)");
            }
            else if (seen.Contains(from))
            {
                problems.Add($"metadata.rollback_from[{i}]", $"'{from}' is listed twice");
            }
            else
            {
                seen.Add(from);
            }
        }
    }

    public static A.DeltaGeneration ToProto(DeltaJob job) => new()
    {
        FromPackageId = job.BasePackageId,
        FromVersion = job.BaseVersion,
        ToPackageId = job.TargetPackageId,
        ToVersion = job.TargetVersion,
        State = (A.DeltaGenerationState)(int)job.State,
        BytesDone = (ulong)job.BytesDone,
        TargetSize = (ulong)job.TargetSize,
        DeltaPackageId = job.DeltaPackageId ?? string.Empty,
        DeltaSize = (ulong)job.DeltaSize,
        Reason = job.Reason ?? string.Empty,
        Attempt = (uint)job.Attempt,
        WindowLog = (uint)job.WindowLog,
        RequestedBy = job.RequestedBy,
    };

    public static A.Package ToProto(PackageRecord p)
    {
        var metadata = new A.PackageMetadata
        {
            Version = p.Metadata.Version,
            Kind = p.Metadata.Kind == PackageKind.Full ? A.PackageKind.Full : A.PackageKind.Delta,
            BaseVersion = p.Metadata.BaseVersion ?? string.Empty,
            RequiredFreeBytes = (ulong)p.Metadata.RequiredFreeBytes,
            MinBatteryPercent = (uint)p.Metadata.MinBatteryPercent,
            ReleaseNotes = p.Metadata.ReleaseNotes,
            SecurityVersion = p.Metadata.SecurityVersion,
            Filename = p.Metadata.FileName ?? string.Empty,
        };
        metadata.TargetModels.AddRange(p.Metadata.Models);
        metadata.RollbackFrom.AddRange(p.Metadata.RollbackFrom);
        return new A.Package
        {
            PackageId = p.PackageId,
            Metadata = metadata,
            Size = (ulong)p.Manifest.Size,
            Sha256 = p.Manifest.Sha256,
            Manifest = ByteString.CopyFrom(p.ManifestBytes),
            ManifestSignature = ByteString.CopyFrom(p.Signature),
            CreatedAt = Timestamp.FromDateTimeOffset(p.CreatedAt),
            DeltaFormat = p.Manifest.DeltaFormat ?? string.Empty,
            KeyId = p.Manifest.KeyId ?? string.Empty,
            Expires = p.Manifest.Expires is { } expires ? Timestamp.FromDateTimeOffset(expires) : null,
        };
    }

    public static A.SigningKey ToProto(string? onlineKeyPem, IEnumerable<ReleaseKey> releaseKeys)
    {
        var answer = new A.SigningKey
        {
            Algorithm = ManifestSignature.Algorithm,
            PublicKeyPem = onlineKeyPem ?? string.Empty,
            Fingerprint = onlineKeyPem is null ? string.Empty : ManifestSignature.Fingerprint(onlineKeyPem),
        };
        answer.ReleaseKeys.AddRange(releaseKeys.Select(k => new A.ReleaseKey
        {
            KeyId = k.KeyId,
            PublicKeyPem = k.PublicKeyPem,
            Source = k.Source,
            AddedAt = Timestamp.FromDateTimeOffset(k.AddedAt),
            RevokedAt = k.RevokedAt is { } revoked ? Timestamp.FromDateTimeOffset(revoked) : null,
        }));
        return answer;
    }

    public static string ValidateCampaignId(string id, bool allowEmpty)
    {
        if (id.Length == 0 && allowEmpty)
        {
            return "cmp-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
        }

        if (!SimpleId().IsMatch(id))
        {
            throw RolloutException.InvalidField("campaign_id", id.Length == 0 ? "is required" : "must be 1-64 characters of A-Z a-z 0-9 . _ -");
        }

        return id;
    }

    public static CampaignPlan ToPlan(A.CampaignPlan? plan) =>
        plan is null ? throw RolloutException.InvalidField("plan", "is required") : CampaignPlanMapping.ToDomain(plan);

    public static A.Stage ToProto(StagePlan stage) => new()
    {
        Percent = stage.Percent,
        MinSoakSeconds = (uint)stage.MinSoak.TotalSeconds,
        GateMinCompleted = (uint)stage.GateMinCompleted,
        GateMinSuccessRate = stage.GateMinSuccessRate,
    };

    public static A.CampaignCounts ToProto(CampaignCounts c) => new()
    {
        Offered = (ulong)c.Offered,
        InProgress = (ulong)c.InProgress,
        Installed = (ulong)c.Installed,
        Succeeded = (ulong)c.Succeeded,
        Failed = (ulong)c.Failed,
        RolledBack = (ulong)c.RolledBack,
        TimedOut = (ulong)c.TimedOut,
        Deferred = (ulong)c.Deferred,
        Canceled = (ulong)c.Canceled,
        Waiting = (ulong)c.Waiting,
        PendingConfirmation = (ulong)c.PendingConfirmation,
    };

    public static A.FailureBlame ToProto(FailureBlame b) => new()
    {
        Dimension = b.Dimension ?? string.Empty,
        Value = b.Value ?? string.Empty,
        FailuresInCohort = (ulong)b.FailuresInCohort,
        CompletedInCohort = (ulong)b.CompletedInCohort,
        TopErrorCode = b.TopErrorCode ?? string.Empty,
        TopErrorCodeCount = (ulong)b.TopErrorCodeCount,
    };

    public static A.FleetStatus ToProto(FleetStatus f)
    {
        var status = new A.FleetStatus { Frozen = f.Frozen, By = f.By, Reason = f.Reason };
        if (f.At is { } at)
        {
            status.At = Timestamp.FromDateTimeOffset(at);
        }

        return status;
    }

    public static A.Campaign ToProto(CampaignView view, bool withAudit)
    {
        var plan = view.Plan;
        var eligibility = new A.Eligibility
        {
            MinCurrentVersion = plan.Eligibility.MinCurrentVersion ?? string.Empty,
            MaxCurrentVersion = plan.Eligibility.MaxCurrentVersion ?? string.Empty,
        };
        eligibility.Models.AddRange(OrEmpty(plan.Eligibility.Models));
        eligibility.CurrentVersions.AddRange(OrEmpty(plan.Eligibility.CurrentVersions));
        eligibility.HardwareRevisions.AddRange(OrEmpty(plan.Eligibility.HardwareRevisions));
        eligibility.Regions.AddRange(OrEmpty(plan.Eligibility.Regions));
        eligibility.Carriers.AddRange(OrEmpty(plan.Eligibility.Carriers));
        eligibility.Tags.AddRange(OrEmpty(plan.Eligibility.Tags));
        eligibility.AllowDevices.AddRange(OrEmpty(plan.Eligibility.AllowDevices));
        eligibility.DenyDevices.AddRange(OrEmpty(plan.Eligibility.DenyDevices));
        var protoPlan = new A.CampaignPlan
        {
            Name = plan.Name,
            Eligibility = eligibility,
            Priority = plan.Priority,
            InProgressTimeoutSeconds = (uint)plan.InProgressTimeout.TotalSeconds,
            AutoAdvance = plan.AutoAdvance,
            Rollback = plan.Rollback,
            HaltScope = plan.HaltScope == HaltScope.Cohort ? A.HaltScope.Cohort : A.HaltScope.Campaign,
            Retry = new A.RetryPolicy { MaxAttempts = (uint)plan.Retry.MaxAttempts, BackoffSeconds = (uint)plan.Retry.Backoff.TotalSeconds },
            Halt = new A.HaltPolicy
            {
                Threshold = plan.Halt.Threshold is { } t ? new A.ThresholdPolicy { MaxFailureRate = t.MaxFailureRate, MinCompleted = (uint)t.MinCompleted } : null,
                Sequential = plan.Halt.Sequential is { } q ? new A.SequentialPolicy { P0 = q.P0, P1 = q.P1, Alpha = q.Alpha, Beta = q.Beta } : null,
            },
            RateLimit = plan.RateLimit is { } l
                ? new A.RateLimit
                {
                    MaxOffersPerMinute = (uint)l.MaxOffersPerMinute,
                    InitialOffersPerMinute = (uint)(l.InitialOffersPerMinute ?? 0),
                    RampDoublingSeconds = (uint)(l.RampDoublingTime?.TotalSeconds ?? 0),
                }
                : null,
            Health = plan.HealthWindow is { } window ? new A.HealthCheck { WindowSeconds = (uint)window.TotalSeconds } : null,
        };
        protoPlan.Retry.RetryableErrorCodes.AddRange(OrEmpty(plan.Retry.RetryableErrorCodes));
        protoPlan.Stages.AddRange(plan.Stages.Select(ToProto));
        protoPlan.Targets.AddRange(plan.Targets.Select(t => new A.CampaignTarget { Model = t.Model, PackageId = t.PackageId }));
        var c = view.Counts;
        var campaign = new A.Campaign
        {
            CampaignId = view.CampaignId,
            Plan = protoPlan,
            State = ToProto(view.State),
            Counts = ToProto(c),
            CreatedAt = Timestamp.FromDateTimeOffset(view.CreatedAt),
            CurrentStage = (uint)view.CurrentStage,
            GateStatus = view.GateStatus,
            StatusVersion = (ulong)view.StatusVersion,
            Unchanged = view.Unchanged,
        };
        for (var i = 0; i < plan.Stages.Length; i++)
        {
            var stage = new A.StageStatus
            {
                Index = (uint)i,
                Plan = ToProto(plan.Stages[i]),
                Counts = ToProto(i < view.StageCounts.Length ? view.StageCounts[i] : CampaignCounts.Zero),
            };
            if (i < view.StageStartedAt.Length && view.StageStartedAt[i] is { } started)
            {
                stage.StartedAt = Timestamp.FromDateTimeOffset(started);
            }

            campaign.Stages.Add(stage);
        }

        campaign.Cohorts.AddRange(view.Cohorts.Select(t => new A.CohortStatus
        {
            Dimension = t.Dimension,
            Value = t.Value,
            Completed = (ulong)t.Completed,
            Failures = (ulong)t.Failures,
        }));
        campaign.ErrorCodes.AddRange(view.ErrorCodes.OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => new A.ErrorCodeCount { ErrorCode = e.Key, Count = (ulong)e.Value }));
        if (view.CompletedAttempts > 0)
        {
            var (low, high) = HaltEvaluation.WilsonInterval(view.FailedAttempts, view.CompletedAttempts);
            campaign.FailureRate = (double)view.FailedAttempts / view.CompletedAttempts;
            campaign.FailureRateLow = low;
            campaign.FailureRateHigh = high;
        }

        if (plan.Halt.Sequential is { } sequential)
        {
            campaign.HaltStatistic = view.HaltStatistic;
            campaign.HaltBoundary = HaltEvaluation.StageBoundary(sequential, plan.Stages.Length);
        }

        if (view.Halt is { } halt)
        {
            campaign.Halt = new A.HaltInfo { By = halt.By, Reason = halt.Reason, At = Timestamp.FromDateTimeOffset(halt.At), Blame = ToProto(halt.Blame) };
        }

        campaign.HaltedCohorts.AddRange(view.HaltedCohorts.Select(h => new A.CohortHalt
        {
            Dimension = h.Cohort.Dimension,
            Value = h.Cohort.Value,
            By = h.By,
            Reason = h.Reason,
            At = Timestamp.FromDateTimeOffset(h.At),
            Figures = h.Figures,
        }));
        if (withAudit)
        {
            campaign.Audit.AddRange(view.Audit.Select(a => new A.AuditEntry
            {
                At = Timestamp.FromDateTimeOffset(a.At),
                Actor = a.Actor,
                Action = a.Action,
                Reason = a.Reason,
                Figures = a.Figures,
            }));
        }

        return campaign;
    }

    public static CampaignState? ToState(A.CampaignState state) => state switch
    {
        A.CampaignState.Draft => CampaignState.Draft,
        A.CampaignState.Running => CampaignState.Running,
        A.CampaignState.Completed => CampaignState.Completed,
        A.CampaignState.Canceled => CampaignState.Canceled,
        A.CampaignState.Paused => CampaignState.Paused,
        A.CampaignState.Halted => CampaignState.Halted,
        _ => null,
    };

    public static A.CampaignState ToProto(CampaignState state) => state switch
    {
        CampaignState.Draft => A.CampaignState.Draft,
        CampaignState.Running => A.CampaignState.Running,
        CampaignState.Completed => A.CampaignState.Completed,
        CampaignState.Canceled => A.CampaignState.Canceled,
        CampaignState.Paused => A.CampaignState.Paused,
        CampaignState.Halted => A.CampaignState.Halted,
        _ => A.CampaignState.Unspecified,
    };

    public static A.DeviceExplanation ToProto(DeviceExplanation explanation)
    {
        var proto = new A.DeviceExplanation
        {
            DeviceId = explanation.DeviceId,
            Summary = explanation.Summary,
            SnapshotVersion = (ulong)Math.Max(0, explanation.SnapshotVersion),
        };
        proto.Campaigns.AddRange(explanation.Campaigns.Select(c => new A.CampaignDecision
        {
            CampaignId = c.CampaignId,
            Verdict = VerdictName(c.Verdict),
            Detail = c.Detail,
            Stage = c.Stage < 0 ? 0U : (uint)c.Stage + 1,
        }));
        return proto;
    }

    /// <summary>NOT_EXPOSED for <see cref="OfferVerdict.NotExposed"/>: the wire names of the verdicts.</summary>
    public static string VerdictName(OfferVerdict verdict) =>
        Regex.Replace(verdict.ToString(), "(?<=[a-z])(?=[A-Z])", "_").ToUpperInvariant();

    public static A.Device ToProto(DeviceView view)
    {
        var device = new A.Device
        {
            DeviceId = view.DeviceId,
            CurrentVersion = view.CurrentVersion ?? string.Empty,
            ActiveSlot = DeviceRequests.ToProto(view.ActiveSlot),
        };
        device.Tags.AddRange(OrEmpty(view.Tags));
        if (view.Facts is { } facts)
        {
            device.Facts = DeviceRequests.ToProto(facts);
        }

        if (view.LastCheckIn is { } seen)
        {
            device.LastCheckIn = Timestamp.FromDateTimeOffset(seen);
        }

        if (view.CurrentOffer is { } offer)
        {
            device.CurrentOffer = ToProto(offer);
        }

        device.History.AddRange(view.History.Select(ToProto));
        return device;
    }

    private static A.OfferRecord ToProto(OfferRecord o) => new()
    {
        OfferId = o.OfferId,
        CampaignId = o.CampaignId,
        PackageId = o.PackageId,
        TargetVersion = o.TargetVersion,
        Status = DeviceRequests.ToProto(o.Status),
        BytesDownloaded = (ulong)o.BytesDownloaded,
        ErrorCode = o.ErrorCode ?? string.Empty,
        OfferedAt = Timestamp.FromDateTimeOffset(o.OfferedAt),
        UpdatedAt = Timestamp.FromDateTimeOffset(o.UpdatedAt),
        Deadline = Timestamp.FromDateTimeOffset(o.Deadline),
    };

    private static ImmutableArray<string> OrEmpty(ImmutableArray<string> list) => list.IsDefault ? [] : list;
}
