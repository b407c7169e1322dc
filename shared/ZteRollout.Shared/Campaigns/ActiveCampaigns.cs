using System.Collections.Immutable;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Shared.Campaigns;

/// <summary>What a device grain needs of one running campaign to decide on its own, without calling the campaign.</summary>
[GenerateSerializer, Immutable, Alias("zte.ActiveCampaign")]
public sealed record ActiveCampaign(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] int Priority,
    [property: Id(2)] Eligibility Eligibility,
    [property: Id(3)] TimeSpan InProgressTimeout,
    [property: Id(4)] ImmutableDictionary<string, ModelTarget> TargetsByModel);

/// <summary>The packages a campaign offers one model: the FULL package and the deltas to the same version.</summary>
[GenerateSerializer, Immutable, Alias("zte.ModelTarget")]
public sealed record ModelTarget(
    [property: Id(0)] PackageRecord Full,
    [property: Id(1)] ImmutableArray<PackageRecord> Deltas);

/// <summary>
/// The running campaigns of the whole fleet at one version. Every silo caches the newest it has seen;
/// device grains decide from it, so a check-in never calls a campaign grain.
/// </summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignSnapshot")]
public sealed record CampaignSnapshot(
    [property: Id(0)] long Version,
    [property: Id(1)] ImmutableArray<ActiveCampaign> Campaigns)
{
    public static CampaignSnapshot Empty { get; } = new(0, []);
}
