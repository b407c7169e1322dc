using System.Collections.Immutable;

namespace ZteRollout.Shared.Campaigns;

/// <summary>Which package a targeted model gets: the FULL package; deltas of the same version are found by base.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignTarget")]
public sealed record CampaignTarget([property: Id(0)] string Model, [property: Id(1)] string PackageId);

/// <summary>Which devices a campaign applies to; an empty list or null bound means no restriction.</summary>
[GenerateSerializer, Immutable, Alias("zte.Eligibility")]
public sealed record Eligibility(
    [property: Id(0)] ImmutableArray<string> Models,
    [property: Id(1)] ImmutableArray<string> CurrentVersions,
    [property: Id(2)] string? MinCurrentVersion,
    [property: Id(3)] string? MaxCurrentVersion,
    [property: Id(4)] ImmutableArray<string> HardwareRevisions,
    [property: Id(5)] ImmutableArray<string> Regions,
    [property: Id(6)] ImmutableArray<string> Carriers)
{
    public static Eligibility Everyone { get; } = new([], [], null, null, [], [], []);
}

/// <summary>What a campaign does, as a release manager wrote it.</summary>
[GenerateSerializer, Immutable, Alias("zte.CampaignPlan")]
public sealed record CampaignPlan(
    [property: Id(0)] string Name,
    [property: Id(1)] ImmutableArray<CampaignTarget> Targets,
    [property: Id(2)] Eligibility Eligibility,
    [property: Id(3)] int Priority,
    [property: Id(4)] TimeSpan InProgressTimeout)
{
    public static TimeSpan DefaultInProgressTimeout { get; } = TimeSpan.FromDays(1);
}

/// <summary>Lifecycle state of a campaign (DESIGN.md, campaign lifecycle).</summary>
[GenerateSerializer]
public enum CampaignState
{
    Draft = 1,
    Running = 2,
    Completed = 3,
    Canceled = 4,
}

/// <summary>One entry of a campaign's audit log: who did what, when, why.</summary>
[GenerateSerializer, Immutable, Alias("zte.AuditEntry")]
public sealed record AuditEntry(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Actor,
    [property: Id(2)] string Action,
    [property: Id(3)] string Reason);
