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

    public static IReadOnlyList<FieldViolation> Validate(CampaignPlan plan, Func<string, PackageRecord?> findPackage)
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

        return problems.Items;
    }

    private static void ValidateTarget(
        CampaignTarget target, string field, HashSet<string> seen, Func<string, PackageRecord?> findPackage, ViolationList problems)
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
}
