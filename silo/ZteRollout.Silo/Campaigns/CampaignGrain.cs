using ZteRollout.Shared;
using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Silo.Campaigns;

[GenerateSerializer, Alias("zte.CampaignGrainState")]
public sealed class CampaignGrainState
{
    [Id(0)]
    public CampaignPlan? Plan { get; set; }

    [Id(1)]
    public CampaignState State { get; set; }

    [Id(2)]
    public DateTimeOffset CreatedAt { get; set; }

    [Id(3)]
    public List<AuditEntry> Audit { get; set; } = [];
}

/// <summary>A campaign's plan, lifecycle and audit log. Check-ins never reach it; outcome counts live in stats shards.</summary>
public sealed class CampaignGrain(
    [PersistentState("campaign", RolloutStorage.Name)] IPersistentState<CampaignGrainState> state,
    RolloutClock clock) : Grain, ICampaignGrain
{
    private string CampaignId => GrainKeys.CampaignIdOf(this.GetPrimaryKeyString());

    private ICampaignDirectoryGrain Directory => GrainFactory.GetGrain<ICampaignDirectoryGrain>(0);

    public async Task<CampaignView> CreateAsync(CampaignPlan plan, string actor)
    {
        if (state.State.Plan is not null)
        {
            throw RolloutException.AlreadyExists($"campaign '{CampaignId}' already exists (state {Name(state.State.State)})");
        }

        var catalog = GrainFactory.GetGrain<IPackageCatalogGrain>(0);
        var packages = new Dictionary<string, PackageRecord?>();
        foreach (var target in plan.Targets.IsDefault ? [] : plan.Targets)
        {
            packages[target.PackageId] = string.IsNullOrEmpty(target.PackageId) ? null : await catalog.GetAsync(target.PackageId);
        }

        var problems = CampaignPlanValidator.Validate(plan, id => packages.GetValueOrDefault(id));
        if (problems.Count > 0)
        {
            throw RolloutException.Invalid(problems);
        }

        var now = clock.UtcNow;
        state.State.Plan = plan;
        state.State.State = CampaignState.Draft;
        state.State.CreatedAt = now;
        state.State.Audit.Add(new AuditEntry(now, actor, "create", string.Empty));
        await state.WriteStateAsync();
        await Directory.RecordAsync(CampaignId, CampaignState.Draft, null);
        return await ViewAsync();
    }

    public async Task<CampaignView> StartAsync(string actor, string reason)
    {
        var plan = RequirePlan();
        if (state.State.State == CampaignState.Running)
        {
            // A retried start (its ack was lost): make sure the directory has it, change nothing else.
            await Directory.RecordAsync(CampaignId, CampaignState.Running, await BuildActiveAsync(plan));
            return await ViewAsync();
        }

        RequireState(CampaignState.Draft, "start");
        var active = await BuildActiveAsync(plan);
        await TransitionAsync(CampaignState.Running, actor, "start", reason);
        await Directory.RecordAsync(CampaignId, CampaignState.Running, active);
        return await ViewAsync();
    }

    public async Task<CampaignView> CancelAsync(string actor, string reason)
    {
        RequirePlan();
        if (state.State.State != CampaignState.Canceled)
        {
            if (state.State.State is not (CampaignState.Draft or CampaignState.Running))
            {
                throw RolloutException.FailedPrecondition($"campaign '{CampaignId}' is {Name(state.State.State)}; only DRAFT or RUNNING can be cancelled");
            }

            await TransitionAsync(CampaignState.Canceled, actor, "cancel", reason);
        }

        await Directory.RecordAsync(CampaignId, CampaignState.Canceled, null);
        return await ViewAsync();
    }

    public Task<CampaignView> GetAsync()
    {
        RequirePlan();
        return ViewAsync();
    }

    public async Task<ActiveCampaign?> GetActiveAsync() =>
        state.State is { Plan: { } plan, State: CampaignState.Running } ? await BuildActiveAsync(plan) : null;

    public static string Name(CampaignState s) => s.ToString().ToUpperInvariant();

    private CampaignPlan RequirePlan() =>
        state.State.Plan ?? throw RolloutException.NotFound($"campaign '{CampaignId}' does not exist");

    private void RequireState(CampaignState expected, string action)
    {
        if (state.State.State != expected)
        {
            throw RolloutException.FailedPrecondition(
                $"campaign '{CampaignId}' is {Name(state.State.State)}; {action} needs {Name(expected)}");
        }
    }

    private async Task TransitionAsync(CampaignState next, string actor, string action, string reason)
    {
        state.State.State = next;
        state.State.Audit.Add(new AuditEntry(clock.UtcNow, actor, action, reason));
        await state.WriteStateAsync();
    }

    /// <summary>Resolves each target's FULL package and the deltas to its version, for device grains to choose from.</summary>
    private async Task<ActiveCampaign> BuildActiveAsync(CampaignPlan plan)
    {
        var catalog = GrainFactory.GetGrain<IPackageCatalogGrain>(0);
        var targets = ImmutableDictionary.CreateBuilder<string, ModelTarget>(StringComparer.Ordinal);
        foreach (var target in plan.Targets)
        {
            var full = await catalog.GetAsync(target.PackageId)
                ?? throw RolloutException.FailedPrecondition($"package '{target.PackageId}' of model '{target.Model}' no longer exists");
            var seed = new ModelTarget(full, []);
            var deltas = (await catalog.ListAsync(target.Model)).Where(p => CampaignDirectoryGrain.IsDeltaOf(p, seed));
            targets[target.Model] = seed with { Deltas = [.. deltas] };
        }

        return new ActiveCampaign(CampaignId, plan.Priority, plan.Eligibility, plan.InProgressTimeout, targets.ToImmutable());
    }

    private async Task<CampaignView> ViewAsync()
    {
        var shards = Enumerable.Range(0, StatsSharding.ShardCount)
            .Select(i => GrainFactory.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(CampaignId, i)).GetCountsAsync());
        var counts = (await Task.WhenAll(shards)).Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b));
        var s = state.State;
        return new CampaignView(CampaignId, s.Plan!, s.State, s.CreatedAt, [.. s.Audit], counts);
    }
}
