using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Tests.Domain;

/// <summary>A plan is checked as a whole: every problem at once, each naming its proto field.</summary>
public sealed class CampaignPlanValidatorTests
{
    private static readonly ImmutableDictionary<string, PackageRecord> Packages = new[]
    {
        Package("pkg-1.9", "1.9"),
        Package("pkg-2.0", "2.0"),
        Package("pkg-3.0", "3.0"),
        Package("pkg-1.9-back", "1.9", rollbackFrom: "2.0"),
        Package("pkg-3.0-back", "3.0", rollbackFrom: "3.1"),
    }.ToImmutableDictionary(p => p.PackageId);

    [Fact]
    public void Validate_ValidStagedPlan_HasNoProblems()
    {
        var problems = Validate(ValidPlan());

        Assert.Empty(problems);
    }

    [Fact]
    public void Validate_CohortScopeWithoutAHaltPolicy_OrAnUnknownScope_NamesHaltScope()
    {
        var noPolicy = Validate(ValidPlan() with { Halt = HaltPolicy.None, HaltScope = HaltScope.Cohort });
        var unknown = Validate(ValidPlan() with { HaltScope = 0 });
        var cohortWithPolicy = Validate(ValidPlan() with { Halt = new HaltPolicy(new ThresholdPolicy(0.1, 10), null), HaltScope = HaltScope.Cohort });

        Assert.Equal([("plan.halt_scope", "cohort needs a halt policy (plan.halt.threshold or plan.halt.sequential) to narrow")],
            noPolicy.Select(p => (p.Field, p.Description)));
        Assert.Equal([("plan.halt_scope", "must be campaign or cohort")], unknown.Select(p => (p.Field, p.Description)));
        Assert.Empty(cohortWithPolicy);
    }

    [Fact]
    public void Validate_BadPlan_ListsEveryProblemAtOnce()
    {
        var plan = ValidPlan() with
        {
            Eligibility = new Eligibility(["MF-A"], ["1.0", "2.0"], null, null, [], [], []),
            Stages =
            [
                new StagePlan(0, TimeSpan.FromSeconds(-1), -1, 1.5),
                new StagePlan(5, TimeSpan.Zero, 0, 0),
                new StagePlan(5, TimeSpan.Zero, 0, 0),
                new StagePlan(150, TimeSpan.Zero, 0, -0.1),
            ],
            Halt = new HaltPolicy(new ThresholdPolicy(1.5, 0), new SequentialPolicy(P0: 0.04, P1: 0.02, Alpha: 0, Beta: 1)),
            Retry = new RetryPolicy(0, TimeSpan.FromSeconds(-5), []),
            RateLimit = new RateLimit(0, null, null),
        };

        var problems = Validate(plan);

        Assert.Equal(
            [
                "plan.stages[0].percent",
                "plan.stages[0].min_soak_seconds",
                "plan.stages[0].gate_min_completed",
                "plan.stages[0].gate_min_success_rate",
                "plan.stages[2].percent",
                "plan.stages[3].percent",
                "plan.stages[3].gate_min_success_rate",
                "plan.halt.threshold.max_failure_rate",
                "plan.halt.threshold.min_completed",
                "plan.halt.sequential.alpha",
                "plan.halt.sequential.beta",
                "plan.halt.sequential.p1",
                "plan.retry.max_attempts",
                "plan.retry.backoff_seconds",
                "plan.rate_limit.max_offers_per_minute",
                "plan.rollback",
            ],
            problems.Select(p => p.Field));
        Assert.Contains(new FieldViolation("plan.stages[2].percent", "must be above the previous stage's 5 (stages are cumulative)"), problems);
        Assert.Contains(new FieldViolation("plan.halt.sequential.p1", "p1 must be above p0 (0.02 ≤ 0.04)"), problems);
        Assert.Contains(new FieldViolation("plan.retry.max_attempts", "must be between 1 and 20 (is 0)"), problems);
        Assert.Contains(new FieldViolation("plan.rollback",
            "target version 2.0 is not above eligible current version 2.0; a downgrade needs rollback: true"), problems);
    }

    [Fact]
    public void Validate_NoStages_AsksForOne()
    {
        var problems = Validate(ValidPlan() with { Stages = [] });

        Assert.Equal([new FieldViolation("plan.stages", "must have at least one stage")], problems);
    }

    [Fact]
    public void Validate_LastStageBelowHundred_IsAllowed()
    {
        var problems = Validate(ValidPlan() with { Stages = [new StagePlan(1, TimeSpan.Zero, 0, 0), new StagePlan(10, TimeSpan.Zero, 0, 0)] });

        Assert.Empty(problems);
    }

    [Theory]
    [InlineData(0.0, 0.04, 0.01, 0.01, "plan.halt.sequential.p0")]
    [InlineData(0.02, 1.0, 0.01, 0.01, "plan.halt.sequential.p1")]
    [InlineData(0.02, 0.02, 0.01, 0.01, "plan.halt.sequential.p1")]
    [InlineData(0.02, 0.04, 1.0, 0.01, "plan.halt.sequential.alpha")]
    [InlineData(0.02, 0.04, 0.01, 0.0, "plan.halt.sequential.beta")]
    public void Validate_SequentialOutOfRange_NamesTheField(double p0, double p1, double alpha, double beta, string field)
    {
        var plan = ValidPlan() with { Halt = new HaltPolicy(null, new SequentialPolicy(p0, p1, alpha, beta)) };

        var problems = Validate(plan);

        Assert.Equal([field], problems.Select(p => p.Field));
    }

    [Theory]
    [InlineData(21, 0, "plan.retry.max_attempts")]
    [InlineData(20, -1, "plan.retry.backoff_seconds")]
    public void Validate_RetryOutOfRange_NamesTheField(int maxAttempts, int backoffSeconds, string field)
    {
        var plan = ValidPlan() with { Retry = new RetryPolicy(maxAttempts, TimeSpan.FromSeconds(backoffSeconds), []) };

        var problems = Validate(plan);

        Assert.Equal([field], problems.Select(p => p.Field));
    }

    [Theory]
    [InlineData(10, 20, 60, "plan.rate_limit.initial_offers_per_minute", "must not exceed max_offers_per_minute (20 > 10)")]
    [InlineData(10, 0, 60, "plan.rate_limit.initial_offers_per_minute", "must be at least 1 when set")]
    [InlineData(10, 5, 0, "plan.rate_limit.ramp_doubling_seconds", "must be above 0 when a ramp starts at initial_offers_per_minute")]
    public void Validate_BadRamp_NamesTheField(int max, int initial, int doublingSeconds, string field, string description)
    {
        var plan = ValidPlan() with { RateLimit = new RateLimit(max, initial, TimeSpan.FromSeconds(doublingSeconds)) };

        var problems = Validate(plan);

        Assert.Equal([new FieldViolation(field, description)], problems);
    }

    [Fact]
    public void Validate_TargetBelowMaxCurrentVersionWithoutRollback_AsksForRollback()
    {
        var plan = ValidPlan() with
        {
            Targets = [new CampaignTarget("MF-A", "pkg-1.9")],
            Eligibility = new Eligibility(["MF-A"], [], "1.0", "2.0", [], [], []),
        };

        var problems = Validate(plan);

        Assert.Equal(
            [new FieldViolation("plan.rollback", "target version 1.9 is not above eligible current version 2.0; a downgrade needs rollback: true")],
            problems);
    }

    [Theory]
    [InlineData("pkg-1.9-back")]
    [InlineData("pkg-3.0-back")]
    public void Validate_RollbackCampaign_AllowsTargetsBelowAndAboveAdmittedVersions(string packageId)
    {
        var plan = ValidPlan() with
        {
            Targets = [new CampaignTarget("MF-A", packageId)],
            Eligibility = new Eligibility(["MF-A"], ["2.0"], null, null, [], [], []),
            Rollback = true,
        };

        var problems = Validate(plan);

        Assert.Empty(problems);
    }

    [Fact]
    public void Validate_RollbackCampaignWhosePackageAuthorizesNoDowngrade_NamesTheTargetsPackage()
    {
        var plan = ValidPlan() with
        {
            Targets = [new CampaignTarget("MF-A", "pkg-1.9")],
            Eligibility = new Eligibility(["MF-A"], ["2.0"], null, null, [], [], []),
            Rollback = true,
        };

        var problems = Validate(plan);

        Assert.Equal(
            [new FieldViolation("plan.targets[0].package_id",
                "package 'pkg-1.9' (1.9) authorizes no downgrade: a rollback campaign needs a package uploaded with rollback_from (the versions it may replace)")],
            problems);
    }

    [Fact]
    public void Validate_OnlyMinCurrentVersion_AdmitsNoExplicitVersionToCompare()
    {
        var plan = ValidPlan() with { Eligibility = new Eligibility(["MF-A"], [], "1.0", null, [], [], []) };

        var problems = Validate(plan);

        Assert.Empty(problems);
    }

    [Fact]
    public void Validate_UnknownPackage_StillReportedBesideNewChecks()
    {
        var plan = ValidPlan() with { Targets = [new CampaignTarget("MF-A", "pkg-missing")], Stages = [] };

        var problems = Validate(plan);

        Assert.Equal(
            [
                new FieldViolation("plan.targets[0].package_id", "package 'pkg-missing' does not exist"),
                new FieldViolation("plan.stages", "must have at least one stage"),
            ],
            problems);
    }

    [Fact]
    public void ValidateShape_UnknownPackage_LeavesPackageChecksToTheServerAndStillChecksTheRest()
    {
        var plan = ValidPlan() with { Targets = [new CampaignTarget("MF-A", "pkg-missing"), new CampaignTarget("MF-B", " ")], Stages = [] };

        var problems = CampaignPlanValidator.ValidateShape(plan);

        Assert.Equal(
            [
                new FieldViolation("plan.targets[1].package_id", "must not be empty"),
                new FieldViolation("plan.stages", "must have at least one stage"),
            ],
            problems);
    }

    private static IReadOnlyList<FieldViolation> Validate(CampaignPlan plan) =>
        CampaignPlanValidator.Validate(plan, id => Packages.GetValueOrDefault(id));

    private static CampaignPlan ValidPlan() =>
        new CampaignPlan(
            "MF-A 2.0 staged",
            [new CampaignTarget("MF-A", "pkg-2.0")],
            new Eligibility(["MF-A"], ["1.0"], null, "1.5", [], [], []),
            Priority: 0,
            InProgressTimeout: TimeSpan.FromHours(6))
        {
            Stages =
            [
                new StagePlan(1, TimeSpan.FromHours(1), 50, 0.95),
                new StagePlan(5, TimeSpan.FromHours(6), 500, 0.95),
                new StagePlan(25, TimeSpan.FromHours(12), 5000, 0.97),
                new StagePlan(100, TimeSpan.Zero, 0, 0),
            ],
            Retry = new RetryPolicy(3, TimeSpan.FromMinutes(5), ["E_DOWNLOAD"]),
            Halt = new HaltPolicy(new ThresholdPolicy(0.05, 200), new SequentialPolicy(0.02, 0.04, 0.01, 0.01)),
            RateLimit = new RateLimit(100, 10, TimeSpan.FromMinutes(5)),
        };

    private static PackageRecord Package(string packageId, string version, params string[] rollbackFrom)
    {
        var manifest = new PackageManifest(packageId, version, ["MF-A"], PackageKind.Full, null, 1024, new string('0', 64)) { RollbackFrom = [.. rollbackFrom] };
        var metadata = new PackageMetadata(version, ["MF-A"], PackageKind.Full, null, 0, 0, "") { RollbackFrom = [.. rollbackFrom] };
        return new PackageRecord(manifest, metadata, [], [], DateTimeOffset.UnixEpoch);
    }
}
