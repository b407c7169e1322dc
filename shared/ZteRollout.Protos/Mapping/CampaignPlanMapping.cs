using ZteRollout.Shared.Campaigns;
using A = ZteRollout.Admin.V1;

namespace ZteRollout.Protos.Mapping;

/// <summary>
/// The admin API's plan message as the domain's <see cref="CampaignPlan"/>: the one reading of the wire plan, shared by
/// the gateway (which validates and stores it) and the CLI (which validates a plan file before any server sees it).
/// Proto defaults (0, empty) stand for the domain's defaults; values out of range are kept so the validator reports them.
/// </summary>
public static class CampaignPlanMapping
{
    public static CampaignPlan ToDomain(A.CampaignPlan plan)
    {
        var e = plan.Eligibility ?? new A.Eligibility();
        var mapped = new CampaignPlan(
            plan.Name,
            [.. plan.Targets.Select(t => new CampaignTarget(t.Model, t.PackageId))],
            new Eligibility([.. e.Models], [.. e.CurrentVersions], NullIfEmpty(e.MinCurrentVersion), NullIfEmpty(e.MaxCurrentVersion),
                [.. e.HardwareRevisions], [.. e.Regions], [.. e.Carriers])
            {
                Tags = [.. e.Tags],
                AllowDevices = [.. e.AllowDevices],
                DenyDevices = [.. e.DenyDevices],
            },
            plan.Priority,
            plan.InProgressTimeoutSeconds == 0 ? CampaignPlan.DefaultInProgressTimeout : TimeSpan.FromSeconds(plan.InProgressTimeoutSeconds))
        {
            AutoAdvance = !plan.HasAutoAdvance || plan.AutoAdvance,
            Rollback = plan.Rollback,
            HaltScope = plan.HaltScope switch
            {
                A.HaltScope.Unspecified or A.HaltScope.Campaign => HaltScope.Campaign,
                A.HaltScope.Cohort => HaltScope.Cohort,

                // An unknown number is kept (as 0) so the validator names the field.
                _ => 0,
            },
            Retry = plan.Retry is { } r
                ? new RetryPolicy(r.MaxAttempts == 0 ? 1 : (int)Math.Min(r.MaxAttempts, int.MaxValue), TimeSpan.FromSeconds(r.BackoffSeconds), [.. r.RetryableErrorCodes])
                : RetryPolicy.None,
            Halt = new HaltPolicy(
                plan.Halt?.Threshold is { } t ? new ThresholdPolicy(t.MaxFailureRate, (int)Math.Min(t.MinCompleted, int.MaxValue)) : null,
                plan.Halt?.Sequential is { } q ? new SequentialPolicy(q.P0, q.P1, q.Alpha, q.Beta) : null),
            RateLimit = plan.RateLimit is { } l
                ? new RateLimit((int)Math.Min(l.MaxOffersPerMinute, int.MaxValue),
                    l.InitialOffersPerMinute == 0 ? null : (int)Math.Min(l.InitialOffersPerMinute, int.MaxValue),
                    l.RampDoublingSeconds == 0 ? null : TimeSpan.FromSeconds(l.RampDoublingSeconds))
                : null,
            HealthWindow = plan.Health is { } h ? TimeSpan.FromSeconds(h.WindowSeconds) : null,
        };
        if (plan.Stages.Count > 0)
        {
            mapped = mapped with
            {
                Stages = [.. plan.Stages.Select(st => new StagePlan(st.Percent, TimeSpan.FromSeconds(st.MinSoakSeconds), (int)Math.Min(st.GateMinCompleted, int.MaxValue), st.GateMinSuccessRate))],
            };
        }

        return mapped;
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
