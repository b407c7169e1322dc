using System.Collections.Immutable;
using ZteRollout.Admin.V1;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Gateway.Services;

/// <summary>
/// A plan checked without creating it: the validator's field problems and the dry run over the registered fleet
/// (eligible devices, devices per stage), by the same code the campaign decides with. The admin API's
/// <c>ValidateCampaign</c> and the console's plan check both answer with this.
/// </summary>
public static class CampaignValidation
{
    public static async Task<ValidateCampaignResponse> ValidateAsync(IGrainFactory grains, CreateCampaignRequest request)
    {
        var id = AdminRequests.ValidateCampaignId(request.CampaignId, allowEmpty: true);
        var plan = AdminRequests.ToPlan(request.Plan);
        var catalog = grains.GetGrain<IPackageCatalogGrain>(0);
        var packages = new Dictionary<string, PackageRecord?>();
        foreach (var target in plan.Targets.Where(t => t.PackageId.Length > 0))
        {
            packages[target.PackageId] = await catalog.GetAsync(target.PackageId);
        }

        var problems = CampaignPlanValidator.Validate(plan, p => packages.GetValueOrDefault(p));
        var response = new ValidateCampaignResponse { Valid = problems.Count == 0 };
        response.Problems.AddRange(problems.Select(p => new FieldProblem { Field = p.Field, Description = p.Description }));

        // Reach over the registered fleet, for the targets that resolve (the campaign id is the bucket salt).
        var targetVersions = plan.Targets
            .Where(t => packages.GetValueOrDefault(t.PackageId) is not null)
            .GroupBy(t => t.Model)
            .ToImmutableDictionary(g => g.Key, g => packages[g.First().PackageId]!.Manifest.Version);
        var stagePercents = plan.Stages.Select(st => Math.Clamp(st.Percent, 0, 100)).ToImmutableArray();
        var query = new DryRunQuery(plan.Eligibility, targetVersions, plan.Rollback, id, stagePercents)
        {
            RollbackFromByModel = targetVersions.Keys.ToImmutableDictionary(
                m => m, m => packages[plan.Targets.First(t => t.Model == m).PackageId]!.Manifest.RollbackFrom),
        };
        var result = await grains.GetGrain<IDeviceRegistryGrain>(0).DryRunAsync(query);
        response.EligibleDevices = (ulong)result.Eligible;
        response.DevicesPerStage.AddRange(result.PerStage.Select(n => (ulong)n));
        return response;
    }
}
