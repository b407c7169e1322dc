using System.Collections.Immutable;
using System.Globalization;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Shared.Campaigns;

/// <summary>Checks a plan as a whole and lists every problem, each naming its field.</summary>
public static class CampaignPlanValidator
{
    public const int MaxNameLength = 200;
    public static readonly TimeSpan MinInProgressTimeout = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MaxInProgressTimeout = TimeSpan.FromDays(30);
    public const int MaxRetryAttempts = 20;
    public static readonly TimeSpan MinHealthWindow = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MaxHealthWindow = TimeSpan.FromDays(30);

    public static IReadOnlyList<FieldViolation> Validate(CampaignPlan plan, Func<string, PackageRecord?> findPackage) =>
        Check(plan, findPackage);

    /// <summary>
    /// Every check that needs no package catalogue, for a plan checked where no server is at hand (the CLI's
    /// <c>campaigns validate</c>): a target's package id must be given, but whether it exists, is FULL, fits the model
    /// and is no downgrade is left to <see cref="Validate"/>.
    /// </summary>
    public static IReadOnlyList<FieldViolation> ValidateShape(CampaignPlan plan) => Check(plan, findPackage: null);

    /// <summary>Checks a plan; package checks only with a <paramref name="findPackage"/>.</summary>
    private static IReadOnlyList<FieldViolation> Check(CampaignPlan plan, Func<string, PackageRecord?>? findPackage)
    {
        var problems = new ViolationList();
        if (string.IsNullOrWhiteSpace(plan.Name))
        {
            problems.Add("plan.name", "must not be empty");
        }
        else if (plan.Name.Length > MaxNameLength)
        {
            problems.Add("plan.name", $"must be at most {MaxNameLength} characters");
        }

        if (plan.Targets.IsDefaultOrEmpty)
        {
            problems.Add("plan.targets", "must name at least one model and its package");
        }
        else
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < plan.Targets.Length; i++)
            {
                ValidateTarget(plan.Targets[i], $"plan.targets[{i}]", seen, findPackage, problems);
            }
        }

        ValidateEligibility(plan.Eligibility, problems);
        if (plan.InProgressTimeout < MinInProgressTimeout || plan.InProgressTimeout > MaxInProgressTimeout)
        {
            problems.Add("plan.in_progress_timeout_seconds",
                $"must be between {MinInProgressTimeout.TotalSeconds:0} and {MaxInProgressTimeout.TotalSeconds:0} seconds");
        }

        ValidateStages(plan.Stages, problems);
        ValidateHalt(plan.Halt, problems);
        ValidateHaltScope(plan, problems);
        ValidateRetry(plan.Retry, problems);
        if (plan.RateLimit is { } rateLimit)
        {
            ValidateRateLimit(rateLimit, problems);
        }

        if (plan.HealthWindow is { } healthWindow && (healthWindow < MinHealthWindow || healthWindow > MaxHealthWindow))
        {
            // Shorter than a minute observes nothing a reboot did not; longer than a month holds every gate for it.
            problems.Add("plan.health.window_seconds",
                Invariant($"must be between {MinHealthWindow.TotalSeconds:0} and {MaxHealthWindow.TotalSeconds:0} seconds (is {healthWindow.TotalSeconds:0})"));
        }

        if (!plan.Rollback && !plan.Targets.IsDefaultOrEmpty && findPackage is not null)
        {
            ValidateNoDowngrade(plan, findPackage, problems);
        }

        if (plan.Rollback && !plan.Targets.IsDefaultOrEmpty && findPackage is not null)
        {
            ValidateRollbackAuthorized(plan, findPackage, problems);
        }

        return problems.Items;
    }

    private static void ValidateTarget(
        CampaignTarget target, string field, HashSet<string> seen, Func<string, PackageRecord?>? findPackage, ViolationList problems)
    {
        if (string.IsNullOrWhiteSpace(target.Model))
        {
            problems.Add(field + ".model", "must not be empty");
        }
        else if (!seen.Add(target.Model))
        {
            problems.Add(field + ".model", $"model '{target.Model}' is targeted twice");
        }

        if (string.IsNullOrWhiteSpace(target.PackageId))
        {
            problems.Add(field + ".package_id", "must not be empty");
            return;
        }

        if (findPackage is null)
        {
            return;
        }

        var package = findPackage(target.PackageId);
        if (package is null)
        {
            problems.Add(field + ".package_id", $"package '{target.PackageId}' does not exist");
            return;
        }

        if (package.Manifest.Kind != PackageKind.Full)
        {
            problems.Add(field + ".package_id",
                $"package '{target.PackageId}' is a DELTA; target the FULL package (deltas of its version are offered automatically)");
        }

        if (!string.IsNullOrWhiteSpace(target.Model) && !package.Manifest.Models.Contains(target.Model))
        {
            problems.Add(field + ".package_id",
                $"package '{target.PackageId}' is not built for model '{target.Model}' (it targets {string.Join(", ", package.Manifest.Models)})");
        }
    }

    private static void ValidateEligibility(Eligibility eligibility, ViolationList problems)
    {
        var versions = eligibility.CurrentVersions.IsDefault ? [] : eligibility.CurrentVersions;
        for (var i = 0; i < versions.Length; i++)
        {
            if (!FirmwareVersion.TryParse(versions[i], out _, out var problem))
            {
                problems.Add($"plan.eligibility.current_versions[{i}]", problem);
            }
        }

        FirmwareVersion? min = null, max = null;
        if (eligibility.MinCurrentVersion is { } minText && !FirmwareVersion.TryParse(minText, out min, out var minProblem))
        {
            problems.Add("plan.eligibility.min_current_version", minProblem);
        }

        if (eligibility.MaxCurrentVersion is { } maxText && !FirmwareVersion.TryParse(maxText, out max, out var maxProblem))
        {
            problems.Add("plan.eligibility.max_current_version", maxProblem);
        }

        if (min is not null && max is not null && min > max)
        {
            problems.Add("plan.eligibility.max_current_version", $"'{max}' is below min_current_version '{min}'");
        }
    }

    private static void ValidateStages(ImmutableArray<StagePlan> stages, ViolationList problems)
    {
        if (stages.IsDefaultOrEmpty)
        {
            problems.Add("plan.stages", "must have at least one stage");
            return;
        }

        // A campaign may stop below 100 %: a pilot that is never meant to reach the whole fleet.
        double? previous = null;
        for (var i = 0; i < stages.Length; i++)
        {
            var stage = stages[i];
            var field = $"plan.stages[{i}]";
            if (!(stage.Percent > 0 && stage.Percent <= 100))
            {
                problems.Add(field + ".percent", Invariant($"must be above 0 and at most 100 (is {stage.Percent})"));
            }
            else if (previous is { } before && stage.Percent <= before)
            {
                problems.Add(field + ".percent", Invariant($"must be above the previous stage's {before} (stages are cumulative)"));
            }

            if (stage.Percent > 0 && stage.Percent <= 100)
            {
                previous = stage.Percent;
            }

            if (stage.MinSoak < TimeSpan.Zero)
            {
                problems.Add(field + ".min_soak_seconds", "must not be negative");
            }

            if (stage.GateMinCompleted < 0)
            {
                problems.Add(field + ".gate_min_completed", "must not be negative");
            }

            if (!(stage.GateMinSuccessRate is >= 0 and <= 1))
            {
                problems.Add(field + ".gate_min_success_rate", Invariant($"must be between 0 and 1 (is {stage.GateMinSuccessRate})"));
            }
        }
    }

    private static void ValidateHalt(HaltPolicy halt, ViolationList problems)
    {
        if (halt.Threshold is { } threshold)
        {
            if (!(threshold.MaxFailureRate is >= 0 and <= 1))
            {
                problems.Add("plan.halt.threshold.max_failure_rate", Invariant($"must be between 0 and 1 (is {threshold.MaxFailureRate})"));
            }

            if (threshold.MinCompleted < 1)
            {
                problems.Add("plan.halt.threshold.min_completed", "must be at least 1");
            }
        }

        if (halt.Sequential is { } sequential)
        {
            var p0 = OpenUnit(sequential.P0, "plan.halt.sequential.p0", problems);
            var p1 = OpenUnit(sequential.P1, "plan.halt.sequential.p1", problems);
            OpenUnit(sequential.Alpha, "plan.halt.sequential.alpha", problems);
            OpenUnit(sequential.Beta, "plan.halt.sequential.beta", problems);
            if (p0 && p1 && sequential.P1 <= sequential.P0)
            {
                problems.Add("plan.halt.sequential.p1", Invariant($"p1 must be above p0 ({sequential.P1} ≤ {sequential.P0})"));
            }
        }
    }

    private static void ValidateHaltScope(CampaignPlan plan, ViolationList problems)
    {
        if (plan.HaltScope is not (HaltScope.Campaign or HaltScope.Cohort))
        {
            problems.Add("plan.halt_scope", "must be campaign or cohort");
        }
        else if (plan.HaltScope == HaltScope.Cohort && plan.Halt.Threshold is null && plan.Halt.Sequential is null)
        {
            problems.Add("plan.halt_scope", "cohort needs a halt policy (plan.halt.threshold or plan.halt.sequential) to narrow");
        }
    }

    /// <summary>Whether a probability lies strictly between 0 and 1 (the log-likelihood ratio needs both logs finite); reports it when not.</summary>
    private static bool OpenUnit(double value, string field, ViolationList problems)
    {
        if (value is > 0 and < 1)
        {
            return true;
        }

        problems.Add(field, Invariant($"must be above 0 and below 1 (is {value})"));
        return false;
    }

    private static void ValidateRetry(RetryPolicy retry, ViolationList problems)
    {
        if (retry.MaxAttempts is < 1 or > MaxRetryAttempts)
        {
            problems.Add("plan.retry.max_attempts", $"must be between 1 and {MaxRetryAttempts} (is {retry.MaxAttempts})");
        }

        if (retry.Backoff < TimeSpan.Zero)
        {
            problems.Add("plan.retry.backoff_seconds", "must not be negative");
        }
    }

    private static void ValidateRateLimit(RateLimit rateLimit, ViolationList problems)
    {
        if (rateLimit.MaxOffersPerMinute < 1)
        {
            problems.Add("plan.rate_limit.max_offers_per_minute", "must be at least 1");
        }

        if (rateLimit.InitialOffersPerMinute is not { } initial)
        {
            return;
        }

        if (initial < 1)
        {
            problems.Add("plan.rate_limit.initial_offers_per_minute", "must be at least 1 when set");
        }
        else if (initial > rateLimit.MaxOffersPerMinute && rateLimit.MaxOffersPerMinute >= 1)
        {
            problems.Add("plan.rate_limit.initial_offers_per_minute",
                $"must not exceed max_offers_per_minute ({initial} > {rateLimit.MaxOffersPerMinute})");
        }

        if (rateLimit.RampDoublingTime is not { } doubling || doubling <= TimeSpan.Zero)
        {
            problems.Add("plan.rate_limit.ramp_doubling_seconds", "must be above 0 when a ramp starts at initial_offers_per_minute");
        }
    }

    /// <summary>
    /// Invariant 4 at planning time: a target at or below a version the eligibility explicitly admits (a listed current
    /// version or the max current version) would downgrade those devices. Only a rollback campaign may; a rollback
    /// campaign that happens to upgrade is left alone.
    /// </summary>
    private static void ValidateNoDowngrade(CampaignPlan plan, Func<string, PackageRecord?> findPackage, ViolationList problems)
    {
        var admitted = new List<FirmwareVersion>();
        var eligibility = plan.Eligibility;
        foreach (var text in eligibility.CurrentVersions.IsDefault ? [] : eligibility.CurrentVersions)
        {
            if (FirmwareVersion.TryParse(text, out var version, out _))
            {
                admitted.Add(version);
            }
        }

        if (FirmwareVersion.TryParse(eligibility.MaxCurrentVersion, out var max, out _))
        {
            admitted.Add(max);
        }

        if (admitted.Count == 0)
        {
            return;
        }

        var highest = admitted.Max()!;
        for (var i = 0; i < plan.Targets.Length; i++)
        {
            var packageId = plan.Targets[i].PackageId;
            if (string.IsNullOrWhiteSpace(packageId)
                || findPackage(packageId) is not { } package
                || !FirmwareVersion.TryParse(package.Manifest.Version, out var target, out _))
            {
                continue;
            }

            if (target <= highest)
            {
                problems.Add("plan.rollback",
                    $"target version {target} is not above eligible current version {highest}; a downgrade needs rollback: true");
            }
        }
    }

    /// <summary>
    /// A rollback campaign offers its target only to devices whose version the package's signed manifest lists in
    /// <c>rollbackFrom</c> (devices refuse any other downgrade): a target that lists none could reach no device.
    /// </summary>
    private static void ValidateRollbackAuthorized(CampaignPlan plan, Func<string, PackageRecord?> findPackage, ViolationList problems)
    {
        for (var i = 0; i < plan.Targets.Length; i++)
        {
            var packageId = plan.Targets[i].PackageId;
            if (!string.IsNullOrWhiteSpace(packageId) && findPackage(packageId) is { } package && package.Manifest.RollbackFrom.Length == 0)
            {
                problems.Add($"plan.targets[{i}].package_id",
                    $"package '{packageId}' ({package.Manifest.Version}) authorizes no downgrade: a rollback campaign needs a package "
                    + "uploaded with rollback_from (the versions it may replace)");
            }
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
