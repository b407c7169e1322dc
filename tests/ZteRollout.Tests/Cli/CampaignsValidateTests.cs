using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Cli;

/// <summary>
/// <c>zte-rollout campaigns validate</c>: a plan's syntax and shape are checked without a server; with one, its
/// packages and reach too.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed class CampaignsValidateTests(NodeFixture fixture) : IDisposable
{
    private const string ValidPlan = """
        name: pilot
        targets:
          - {model: CLI-A, package_id: pkg-not-uploaded-anywhere}
        stages:
          - {percent: 10, min_soak_seconds: 1h, gate_min_completed: 5, gate_min_success_rate: 0.9}
          - {percent: 100}
        """;

    private readonly string _directory = TestPaths.NewTempDirectory("cli-validate");

    /// <summary>A loopback address where nothing listens: a gateway that is not running.</summary>
    private static string NoServer => $"http://127.0.0.1:{TestPaths.FreePort()}";

    [Fact]
    public async Task Validate_ValidPlanAndNoServer_SucceedsAndSaysTheServerChecksWereSkipped()
    {
        var plan = Write("valid.yaml", ValidPlan);

        var result = await CliRunner.RunAsync("campaigns", "validate", plan, "--gateway", NoServer, "--api-key", "zak1_no-server-here");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("valid: syntax and shape (no server checks)", result.Stdout);
        Assert.Contains("warning: server checks skipped (packages exist and fit, no downgrade, devices per stage): no server answered at http://127.0.0.1:", result.Stderr);
    }

    [Fact]
    public async Task Validate_NoAdminKeyAnywhere_SucceedsOfflineAndNamesTheMissingKeyFile()
    {
        var plan = Write("valid.yaml", ValidPlan);
        var emptyDataDirectory = Path.Combine(_directory, "data");
        var keyFromEnvironment = Environment.GetEnvironmentVariable("ZTE_API_KEY");
        Environment.SetEnvironmentVariable("ZTE_API_KEY", null);
        CliResult result;
        try
        {
            result = await CliRunner.RunAsync("campaigns", "validate", plan, "--gateway", NoServer, "--data-dir", emptyDataDirectory);
        }
        finally
        {
            Environment.SetEnvironmentVariable("ZTE_API_KEY", keyFromEnvironment);
        }

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("server checks skipped (packages exist and fit, no downgrade, devices per stage): no API key", result.Stderr);
        Assert.Contains(Path.Combine(emptyDataDirectory, "admin-api-key") + " not found", result.Stderr);
    }

    [Fact]
    public async Task Validate_HaltScopeCohortWithoutPolicy_OrUnknownScope_FailsNamingTheField()
    {
        var cohort = Write("cohort.yaml", ValidPlan + "\nhalt_scope: cohort\n");
        var sideways = Write("sideways.yaml", ValidPlan + "\nhalt_scope: sideways\n");

        var withoutPolicy = await CliRunner.RunAsync("campaigns", "validate", cohort, "--gateway", NoServer, "--api-key", "zak1_no-server-here");
        var unknown = await CliRunner.RunAsync("campaigns", "validate", sideways, "--gateway", NoServer, "--api-key", "zak1_no-server-here");

        Assert.Equal(1, withoutPolicy.ExitCode);
        Assert.Contains("plan.halt_scope", withoutPolicy.Stdout);
        Assert.Contains("cohort needs a halt policy", withoutPolicy.Stdout);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("halt_scope: expected one of campaign, cohort, got 'sideways'.", unknown.Stderr);
    }

    [Fact]
    public async Task Validate_StagesNotIncreasingAndNoServer_FailsNamingTheField()
    {
        var plan = Write("shrinking.yaml", ValidPlan.Replace("percent: 100", "percent: 5", StringComparison.Ordinal));

        var result = await CliRunner.RunAsync("campaigns", "validate", plan, "--gateway", NoServer, "--api-key", "zak1_no-server-here");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("invalid", result.Stdout);
        Assert.Contains("plan.stages[1].percent", result.Stdout);
        Assert.Contains("must be above the previous stage's 10 (stages are cumulative)", result.Stdout);
    }

    [Fact]
    public async Task Validate_UnknownKey_FailsNamingFileLineAndKeyBeforeAnyServer()
    {
        var plan = Write("typo.yaml", ValidPlan.Replace("min_soak_seconds", "soak", StringComparison.Ordinal));

        var result = await CliRunner.RunAsync("campaigns", "validate", plan, "--gateway", NoServer, "--api-key", "zak1_no-server-here");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"error: {plan}:5:19: stages[0]: unknown key 'soak'", result.Stderr);
    }

    [Fact]
    public async Task Validate_RepositoryExamplePlanAndNoServer_IsValid()
    {
        var example = Path.Combine(TestPaths.RepositoryRoot(), "deploy", "examples", "staged-campaign.yaml");

        var result = await CliRunner.RunAsync("campaigns", "validate", example, "--gateway", NoServer, "--api-key", "zak1_no-server-here", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("""{ "valid": true, "problems": [ ], "eligible_devices": "0", "devices_per_stage": [ ] }""", result.Stdout.Trim());
    }

    [Fact]
    public async Task Validate_ServerReachable_AddsItsPackageCheck()
    {
        var plan = Write("valid.yaml", ValidPlan);

        var result = await CliRunner.RunAsync("campaigns", "validate", plan, "--gateway", fixture.Node.Address, "--api-key", NodeFixture.ViewerKey);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("plan.targets[0].package_id", result.Stdout);
        Assert.Contains("package 'pkg-not-uploaded-anywhere' does not exist", result.Stdout);
        Assert.DoesNotContain("skipped", result.Stderr);
    }

    public void Dispose() => TestPaths.TryDelete(_directory);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}
