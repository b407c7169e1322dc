using System.Collections.Immutable;
using System.Globalization;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Shared.Campaigns;

/// <summary>
/// Cohort-scoped halts (issue 9, point 5; a plan's <see cref="HaltScope.Cohort"/>): when the campaign's halt policy
/// fires, the attribution names a cohort value, and the policy over everything outside that value would not halt, only
/// that cohort stops and the rest of the campaign goes on, judged in a new window. No separate per-cohort test runs, so
/// no α is shared out: a cohort halt happens only when the campaign-level test fires, which at p0 happens with
/// probability ≤ α per window; each cohort halt opens a new window for the rest (like an SRE resume) and so spends
/// another α, and so does an SRE lifting one.
/// </summary>
public static class CohortHalting
{
    /// <summary>
    /// The cohort to halt instead of the whole campaign, or null: the attribution must name a cohort value that does
    /// not hold every decided device (a value every device shares is the campaign), and the halt policy over the rest
    /// of the window — the campaign without that value — must not halt on its own (<paramref name="restWouldHalt"/>).
    /// </summary>
    public static (string Dimension, string Value)? Narrow(FailureBlame blame, long decided, bool restWouldHalt) =>
        blame is { Dimension: { } dimension, Value: { } value } && blame.TotalFailures > 0 && blame.CompletedInCohort < decided && !restWouldHalt
            ? (dimension, value)
            : null;

    /// <summary>The device's value in one attribution dimension ("model", "hardware_revision", …); null for an unknown dimension.</summary>
    public static string? ValueOf(Cohort cohort, string dimension) => dimension switch
    {
        CohortAttribution.Model => cohort.Model,
        CohortAttribution.HardwareRevision => cohort.HardwareRevision,
        CohortAttribution.Region => cohort.Region,
        CohortAttribution.Carrier => cohort.Carrier,
        CohortAttribution.SourceVersion => cohort.SourceVersion,
        _ => null,
    };

    /// <summary>Whether <paramref name="dimension"/> names an attribution dimension a cohort halt can stop.</summary>
    public static bool IsDimension(string dimension) => ValueOf(new Cohort("", "", "", "", ""), dimension) is not null;

    /// <summary>
    /// The grain's decision when the policy has fired on a campaign with <see cref="HaltScope.Cohort"/>: the window's
    /// per-device figures of every cohort value (since the baselines the last window opened with) name the value the
    /// failures concentrate in, and the same policy judges the window without it. Null: halt the whole campaign.
    /// </summary>
    /// <param name="cohorts">Every cohort value's per-stage counts, now (each device once per dimension).</param>
    /// <param name="baselines">Each stage's baseline when the window opened (empty for the first window).</param>
    /// <param name="cohortBaselines">Each cohort value's per-stage baselines then; a value missing had no device.</param>
    /// <param name="errorCodes">Failures per error code, to name the top code.</param>
    public static CohortHaltDecision? Decide(
        HaltPolicy policy, IReadOnlyCollection<CohortStageCounts> cohorts, int stages,
        IReadOnlyList<StageBaseline> baselines, IReadOnlyCollection<CohortBaseline> cohortBaselines, IReadOnlyDictionary<string, long> errorCodes)
    {
        var totals = Totals(cohorts, stages);
        var window = StageOutcomes.None;
        for (var k = 0; k < stages; k++)
        {
            window = window.Add(StageOutcomes.Of(totals[k]).Since(At(baselines, k)));
        }

        var tallies = new List<CohortTally>(cohorts.Count);
        foreach (var cohort in cohorts)
        {
            var inCohort = Window(cohort.PerStage, BaselineOf(cohortBaselines, cohort.Dimension, cohort.Value), stages)
                .Aggregate(StageOutcomes.None, (a, b) => a.Add(b));
            tallies.Add(new CohortTally(cohort.Dimension, cohort.Value, inCohort.Decided, inCohort.Failures));
        }

        var blame = CohortAttribution.Blame(tallies, errorCodes, window.Decided, window.Failures);
        if (blame is not { Dimension: { } dimension, Value: { } value }
            || cohorts.FirstOrDefault(c => c.Dimension == dimension && c.Value == value) is not { } blamed)
        {
            return null;
        }

        var blamedBaseline = BaselineOf(cohortBaselines, dimension, value);
        var rest = new StageOutcomes[stages];
        for (var k = 0; k < stages; k++)
        {
            var restBaseline = Minus(At(baselines, k) ?? Zero, At(blamedBaseline, k) ?? Zero);
            rest[k] = StageOutcomes.Of(Minus(totals[k], At(blamed.PerStage, k))).Since(restBaseline);
        }

        var restTotal = rest.Aggregate(StageOutcomes.None, (a, b) => a.Add(b));

        // With nothing outside the cohort offered in the window, the cohort is all that still runs: halt the campaign.
        if (restTotal.Offered == 0 || Narrow(blame, window.Decided, HaltEvaluation.ShouldHalt(policy, rest)) is null)
        {
            return null;
        }

        var inBlamed = Window(blamed.PerStage, blamedBaseline, stages).Aggregate(StageOutcomes.None, (a, b) => a.Add(b));
        return new CohortHaltDecision(new HaltedCohort(dimension, value), blame, inBlamed, restTotal);
    }

    /// <summary>The baselines a new window opens with (a cohort halt, a lift, an SRE resume): every stage's, and every cohort value's.</summary>
    public static (ImmutableArray<StageBaseline> Stages, ImmutableArray<CohortBaseline> Cohorts) Baselines(IReadOnlyCollection<CohortStageCounts> cohorts, int stages) =>
        ([.. Totals(cohorts, stages).Select(c => StageOutcomes.Of(c).Baseline())],
         [.. cohorts.Select(c => new CohortBaseline(c.Dimension, c.Value,
             [.. Enumerable.Range(0, stages).Select(k => StageOutcomes.Of(At(c.PerStage, k)).Baseline())]))]);

    /// <summary>The figures of a cohort decision as the audit log keeps them.</summary>
    public static string Describe(CohortHaltDecision decision) => string.Create(CultureInfo.InvariantCulture,
        $"cohort {decision.Cohort}: {decision.InCohort.Failures} failed of {decision.InCohort.Decided} decided ({decision.InCohort.Offered} offered); " +
        $"rest: {decision.Rest.Failures} failed of {decision.Rest.Decided} decided ({decision.Rest.Offered} offered), its policy would not halt");

    /// <summary>Per stage, every device once: the values of one dimension (model) hold each device exactly once.</summary>
    private static CampaignCounts[] Totals(IReadOnlyCollection<CohortStageCounts> cohorts, int stages)
    {
        var totals = Enumerable.Repeat(CampaignCounts.Zero, stages).ToArray();
        foreach (var cohort in cohorts.Where(c => c.Dimension == CohortAttribution.Model))
        {
            for (var k = 0; k < stages; k++)
            {
                totals[k] = totals[k].Add(At(cohort.PerStage, k));
            }
        }

        return totals;
    }

    private static StageOutcomes[] Window(ImmutableArray<CampaignCounts> perStage, ImmutableArray<StageBaseline> baselines, int stages) =>
        [.. Enumerable.Range(0, stages).Select(k => StageOutcomes.Of(At(perStage, k)).Since(At(baselines, k)))];

    private static ImmutableArray<StageBaseline> BaselineOf(IReadOnlyCollection<CohortBaseline> baselines, string dimension, string value) =>
        baselines.FirstOrDefault(b => b.Dimension == dimension && b.Value == value)?.PerStage ?? [];

    private static StageBaseline Zero { get; } = new(0, 0, 0);

    private static StageBaseline? At(IReadOnlyList<StageBaseline> baselines, int stage) => stage < baselines.Count ? baselines[stage] : null;

    private static StageBaseline? At(ImmutableArray<StageBaseline> baselines, int stage) => !baselines.IsDefault && stage < baselines.Length ? baselines[stage] : null;

    private static CampaignCounts At(ImmutableArray<CampaignCounts> perStage, int stage) =>
        !perStage.IsDefault && stage < perStage.Length ? perStage[stage] : CampaignCounts.Zero;

    private static StageBaseline Minus(StageBaseline a, StageBaseline b) => new(a.Offered - b.Offered, a.Decided - b.Decided, a.FailuresOrUndecided - b.FailuresOrUndecided);

    private static CampaignCounts Minus(CampaignCounts a, CampaignCounts b) => a.Add(
        new CampaignCounts(-b.Offered, -b.InProgress, -b.Installed, -b.Succeeded, -b.Failed, -b.RolledBack, -b.TimedOut, -b.Deferred, -b.Canceled)
        {
            Waiting = -b.Waiting,
            RetryPending = -b.RetryPending,
        });
}

/// <summary>A cohort value halted on its own: its devices get no new offer from the campaign.</summary>
[GenerateSerializer, Immutable, Alias("zte.HaltedCohort")]
public sealed record HaltedCohort(
    [property: Id(0)] string Dimension,
    [property: Id(1)] string Value)
{
    /// <summary>Whether a device with these facts is in the cohort (its source version is the version it runs).</summary>
    public bool Holds(DeviceFacts facts) => Value == Dimension switch
    {
        CohortAttribution.Model => facts.Model,
        CohortAttribution.HardwareRevision => facts.HardwareRevision,
        CohortAttribution.Region => facts.Region,
        CohortAttribution.Carrier => facts.Carrier,
        CohortAttribution.SourceVersion => facts.CurrentVersion,
        _ => null,
    };

    public override string ToString() => $"{Dimension}={Value}";
}

/// <summary>A cohort halt as the campaign stores and shows it: who (a policy), why, when, and the figures.</summary>
[GenerateSerializer, Immutable, Alias("zte.CohortHaltRecord")]
public sealed record CohortHaltRecord(
    [property: Id(0)] HaltedCohort Cohort,
    [property: Id(1)] string By,
    [property: Id(2)] string Reason,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] string Figures);

/// <summary>One cohort value's counts per stage (each device once, latest status), from a campaign's stats shards.</summary>
[GenerateSerializer, Immutable, Alias("zte.CohortStageCounts")]
public sealed record CohortStageCounts(
    [property: Id(0)] string Dimension,
    [property: Id(1)] string Value,
    [property: Id(2)] ImmutableArray<CampaignCounts> PerStage);

/// <summary>One cohort value's per-stage baselines when a halt window opened.</summary>
[GenerateSerializer, Immutable, Alias("zte.CohortBaseline")]
public sealed record CohortBaseline(
    [property: Id(0)] string Dimension,
    [property: Id(1)] string Value,
    [property: Id(2)] ImmutableArray<StageBaseline> PerStage);

/// <summary>A cohort halt the policy decided: the cohort, the blame behind it, and the window's figures in it and outside it.</summary>
public sealed record CohortHaltDecision(HaltedCohort Cohort, FailureBlame Blame, StageOutcomes InCohort, StageOutcomes Rest);
