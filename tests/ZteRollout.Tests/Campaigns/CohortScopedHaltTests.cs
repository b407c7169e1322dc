using Xunit.Abstractions;
using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Campaigns;

/// <summary>
/// Cohort-scoped halts in the campaign grain (issue 9, point 5): a plan with <c>halt_scope: cohort</c> whose failures are
/// confined to one hardware revision halts that revision only; every silo's devices refuse it while the other revisions
/// keep getting offers and complete; the halt survives reactivation; an SRE lifts it. Two silos, a real gRPC gateway,
/// the reference agent, one fake clock.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class CohortScopedHaltTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private RolloutCluster System => fixture.System;

    private static readonly string[] Revisions = ["R1", "R2", "R3"];

    private async Task<Campaign> TickAsync(string id)
    {
        fixture.Clock.Advance(TimeSpan.FromMinutes(1));
        await System.Grains.Campaign(id).TickAsync();
        return await System.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = id }, System.AdminHeaders);
    }

    /// <summary>
    /// A campaign of one stage whose threshold (20 % of devices failed for good) may judge only once 30 devices decided:
    /// the first fleet of 30 decides it, whatever order its reports arrive in.
    /// </summary>
    private async Task<(Fleet First, Fleet Second)> StartAsync(string id, string model, HaltScope scope)
    {
        var package = await Scenario.UploadAsync(System, Scenario.Full(model, "C2.0"), Scenario.RandomBytes(1024, seed: 91));
        AgentBehavior Revision(int i) => new() { Model = model, HardwareRevision = Revisions[i % 3], FailInstall = i % 3 == 2 };
        var first = await Fleet.CreateAsync(System, id + "-a", 30, "C1.0", Revision);
        var second = await Fleet.CreateAsync(System, id + "-b", 30, "C1.0", Revision);
        var plan = new CampaignPlan
        {
            Name = "cohort scope",
            Targets = { new CampaignTarget { Model = model, PackageId = package.PackageId } },
            Eligibility = new Eligibility { Models = { model } },
            InProgressTimeoutSeconds = 3600,
            Halt = new HaltPolicy { Threshold = new ThresholdPolicy { MaxFailureRate = 0.2, MinCompleted = 30 } },
            HaltScope = scope,
        };
        await System.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = id, Plan = plan }, System.AdminHeaders);
        await System.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = id, Reason = "cohort scope" }, System.AdminHeaders);
        return (first, second);
    }

    private static Dictionary<(string Revision, AgentOutcome Outcome), int> ByRevision(Fleet fleet, Dictionary<string, AgentRunResult> round) =>
        round.GroupBy(r => (fleet.BehaviorOf(r.Key).HardwareRevision, r.Value.Outcome)).ToDictionary(g => g.Key, g => g.Count());

    [Fact]
    public async Task CohortScope_FailuresConfinedToOneRevision_HaltThatRevisionOnly_TheOthersKeepGettingOffers_AndAnSreLiftsIt()
    {
        const string id = "chs-a";
        var (first, second) = await StartAsync(id, "CHS-A", HaltScope.Cohort);

        // R3 fails every install: 10 of the first 30 devices (33 % > 20 %), none of R1 and R2.
        var firstRound = await first.RoundAsync();
        var afterFirst = await TickAsync(id);
        output.WriteLine($"after the first fleet: {afterFirst.State}; {string.Join(" | ", afterFirst.HaltedCohorts)}");

        Assert.Equal(CampaignState.Running, afterFirst.State);
        Assert.Null(afterFirst.Halt);
        var halt = Assert.Single(afterFirst.HaltedCohorts);
        Assert.Equal(("hardware_revision", "R3", "policy:threshold"), (halt.Dimension, halt.Value, halt.By));
        Assert.StartsWith("failure rate 33.3% (10 failed of 30 devices offered", halt.Reason);
        Assert.StartsWith(
            "cohort hardware_revision=R3: 10 failed of 10 decided (10 offered); rest: 0 failed of 20 decided (20 offered), its policy would not halt; " +
            "failures concentrate in hardware_revision=R3 (10/10)", halt.Figures);
        var audit = afterFirst.Audit[^1];
        Assert.Equal(("halt cohort hardware_revision=R3", "policy:threshold", halt.Figures), (audit.Action, audit.Actor, audit.Figures));
        Assert.Equal(new Dictionary<(string, AgentOutcome), int> { [("R1", AgentOutcome.Succeeded)] = 10, [("R2", AgentOutcome.Succeeded)] = 10, [("R3", AgentOutcome.Failed)] = 10 },
            ByRevision(first, firstRound));

        // The second fleet: R1 and R2 get offers and complete; R3 gets none, on whichever silo its device lives.
        var secondRound = await second.RoundAsync();
        var afterSecond = await TickAsync(id);
        var r3Device = second.DeviceIds.First(d => second.BehaviorOf(d).HardwareRevision == "R3");
        var explanation = await System.Admin.ExplainDeviceAsync(new GetDeviceRequest { DeviceId = r3Device }, System.AdminHeaders);

        Assert.Equal(new Dictionary<(string, AgentOutcome), int> { [("R1", AgentOutcome.Succeeded)] = 10, [("R2", AgentOutcome.Succeeded)] = 10, [("R3", AgentOutcome.NoUpdate)] = 10 },
            ByRevision(second, secondRound));
        Assert.Equal((CampaignState.Running, 50UL, 40UL, 10UL), (afterSecond.State, afterSecond.Counts.Offered, afterSecond.Counts.Succeeded, afterSecond.Counts.Failed));
        var decision = Assert.Single(explanation.Campaigns, c => c.CampaignId == id);
        Assert.Equal(("COHORT_HALTED", "cohort halted: hardware_revision=R3"), (decision.Verdict, decision.Detail));

        // Stored: a new activation of the campaign (and of every idle grain) still holds the cohort halt and serves it.
        await System.Grains.GetGrain<Orleans.Runtime.IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var reactivated = await System.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = id }, System.AdminHeaders);
        var stillRefused = await second.RoundAsync();

        Assert.Equal(("hardware_revision", "R3"), (Assert.Single(reactivated.HaltedCohorts).Dimension, reactivated.HaltedCohorts[0].Value));
        Assert.All(stillRefused.Where(r => second.BehaviorOf(r.Key).HardwareRevision == "R3"), r => Assert.Equal(AgentOutcome.NoUpdate, r.Value.Outcome));

        // An SRE lifts it (the fix shipped): R3's devices of the second fleet get offers again and succeed.
        second.Behave((_, b) => b with { FailInstall = false });
        var lifted = await System.Admin.LiftCohortHaltAsync(
            new LiftCohortHaltRequest { CampaignId = id, Dimension = "hardware_revision", Value = "R3", Reason = "fixed R3 bootloader" }, System.AdminHeaders);
        var afterLift = await second.RoundAsync();
        var final = await TickAsync(id);

        Assert.Empty(lifted.HaltedCohorts);
        Assert.Equal(("lift cohort halt hardware_revision=R3", "fixed R3 bootloader"), (lifted.Audit[^1].Action, lifted.Audit[^1].Reason));
        Assert.Equal(10, afterLift.Count(r => second.BehaviorOf(r.Key).HardwareRevision == "R3" && r.Value.Outcome == AgentOutcome.Succeeded));
        Assert.Equal((CampaignState.Running, 60UL, 50UL, 10UL), (final.State, final.Counts.Offered, final.Counts.Succeeded, final.Counts.Failed));
    }

    [Fact]
    public async Task CampaignScope_SameFailures_HaltTheWholeCampaign()
    {
        const string id = "chs-b";
        var (first, second) = await StartAsync(id, "CHS-B", HaltScope.Campaign);

        await first.RoundAsync();
        var afterFirst = await TickAsync(id);
        var secondRound = await second.RoundAsync();

        Assert.Equal((CampaignState.Halted, "policy:threshold"), (afterFirst.State, afterFirst.Halt?.By));
        Assert.Empty(afterFirst.HaltedCohorts);
        Assert.Equal(("hardware_revision", "R3"), (afterFirst.Halt!.Blame.Dimension, afterFirst.Halt.Blame.Value));
        Assert.All(secondRound.Values, r => Assert.Equal(AgentOutcome.NoUpdate, r.Outcome));
    }

    [Fact]
    public async Task LiftCohortHalt_NothingHaltedOrNoDimension_NamesTheProblem()
    {
        const string id = "chs-c";
        await StartAsync(id, "CHS-C", HaltScope.Cohort);

        var notHalted = await RpcAssert.FailsAsync(Grpc.Core.StatusCode.NotFound, () => System.Admin.LiftCohortHaltAsync(
            new LiftCohortHaltRequest { CampaignId = id, Dimension = "hardware_revision", Value = "R3", Reason = "x" }, System.AdminHeaders).ResponseAsync);
        var badDimension = await RpcAssert.FailsAsync(Grpc.Core.StatusCode.InvalidArgument, () => System.Admin.LiftCohortHaltAsync(
            new LiftCohortHaltRequest { CampaignId = id, Dimension = "colour", Value = "R3", Reason = "x" }, System.AdminHeaders).ResponseAsync);
        var noReason = await RpcAssert.FailsAsync(Grpc.Core.StatusCode.InvalidArgument, () => System.Admin.LiftCohortHaltAsync(
            new LiftCohortHaltRequest { CampaignId = id, Dimension = "hardware_revision", Value = "R3" }, System.AdminHeaders).ResponseAsync);

        Assert.Equal($"cohort hardware_revision=R3 is not halted in campaign '{id}' (halted cohorts: none)", notHalted.Status.Detail);
        Assert.Contains("dimension", badDimension.Status.Detail);
        Assert.Contains("reason", noReason.Status.Detail);
    }
}
