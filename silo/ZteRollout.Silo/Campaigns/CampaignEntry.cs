using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Campaigns;

/// <summary>A campaign's entry in the snapshot: what device grains need of it to decide check-ins on their own.</summary>
internal static class CampaignEntry
{
    /// <summary>
    /// The entry of a campaign in state <paramref name="s"/>, or null when it is not in the snapshot (draft, completed,
    /// canceled). Only a running campaign's entry carries its packages: a paused or halted one makes no new offers, so
    /// stopping a campaign never depends on the package catalog.
    /// </summary>
    public static async Task<ActiveCampaign?> OfAsync(IGrainFactory grains, string campaignId, CampaignGrainState s, DateTimeOffset now) => s.State switch
    {
        CampaignState.Running => Build(campaignId, s, await ResolveTargetsAsync(grains, s.Plan!), now),
        CampaignState.Paused or CampaignState.Halted => Build(campaignId, s, ImmutableDictionary<string, ModelTarget>.Empty, now),
        _ => null,
    };

    private static ActiveCampaign Build(string campaignId, CampaignGrainState s, ImmutableDictionary<string, ModelTarget> targets, DateTimeOffset now)
    {
        var plan = s.Plan!;
        return new ActiveCampaign(campaignId, plan.Priority, plan.Eligibility, plan.InProgressTimeout, targets)
        {
            Salt = campaignId,
            ExposurePercent = s.State == CampaignState.Running ? plan.Stages[s.CurrentStage].Percent : 0,
            StagePercents = [.. plan.Stages.Select(st => st.Percent)],
            Retry = plan.Retry,
            Rollback = plan.Rollback,
            RateLimit = plan.RateLimit,
            RampStartedAt = s.StartedAt ?? now,
            Halted = s.State == CampaignState.Halted,
            HealthWindow = plan.HealthWindow,
            HaltedCohorts = [.. s.HaltedCohorts.Select(h => h.Cohort)],
        };
    }

    /// <summary>Resolves each target's FULL package and the deltas to its version, for device grains to choose from.</summary>
    private static async Task<ImmutableDictionary<string, ModelTarget>> ResolveTargetsAsync(IGrainFactory grains, CampaignPlan plan)
    {
        var catalog = grains.GetGrain<IPackageCatalogGrain>(0);
        var targets = ImmutableDictionary.CreateBuilder<string, ModelTarget>(StringComparer.Ordinal);
        foreach (var target in plan.Targets)
        {
            var full = await catalog.GetAsync(target.PackageId)
                ?? throw RolloutException.FailedPrecondition($"package '{target.PackageId}' of model '{target.Model}' no longer exists");
            var seed = new ModelTarget(full, []);
            var deltas = plan.Rollback ? [] : (await catalog.ListAsync(target.Model)).Where(p => CampaignDirectoryGrain.IsDeltaOf(p, seed));
            targets[target.Model] = seed with { Deltas = [.. deltas] };
        }

        return targets.ToImmutable();
    }
}
