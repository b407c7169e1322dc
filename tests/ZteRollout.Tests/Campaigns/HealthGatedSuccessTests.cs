using Grpc.Core;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Shared.Grains;
using ZteRollout.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ZteRollout.Tests.Campaigns;

/// <summary>
/// Health-gated success (issue 9, point 4) through the whole system: two silos, the real gRPC gateway, raw device
/// calls, one fake clock. A success counts for gates and halts only once the device checks in healthy on the new
/// version the plan's window after it; a rollback seen before then counts as a failure.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class HealthGatedSuccessTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(10);

    private RolloutCluster System => fixture.System;

    private sealed record UpdatedDevice(string Id, string Token, string OfferId);

    [Fact]
    public async Task Gate_SuccessesPendingConfirmation_DoNotCount_UntilConfirmedAfterTheWindow()
    {
        var devices = await OfferedAndSucceededAsync("hgs-gate", "HGS-G", 3, plan =>
        {
            plan.Stages.Add(new Stage { Percent = 100, GateMinCompleted = 3, GateMinSuccessRate = 1.0 });
        });

        var pending = await TickAsync("hgs-gate", TimeSpan.Zero);
        output.WriteLine($"after the successes: {pending.State}, gate: {pending.GateStatus}");
        Assert.Equal((CampaignState.Running, 3UL, 0UL), (pending.State, pending.Counts.PendingConfirmation, pending.Counts.Succeeded));
        Assert.Equal((3UL, 0UL), (pending.Stages[0].Counts.PendingConfirmation, pending.Stages[0].Counts.Succeeded));
        Assert.Contains("0 of 3 completed", pending.GateStatus);
        var shown = await CliRunner.RunAsync("campaigns", "show", "hgs-gate", "--gateway", System.GatewayAddresses[0], "--api-key", System.AdminKey);
        output.WriteLine(shown.Stdout);
        Assert.Equal((0, string.Empty), (shown.ExitCode, shown.Stderr));
        Assert.Contains("Health confirmations (window 10m)", shown.Stdout);
        Assert.Contains("│ 1     │ 3                    │ 0                   │", shown.Stdout);

        // Halfway through the window the devices run the new version: healthy so far, not yet confirmed; each is told
        // to check in again when its window ends, and is offered nothing meanwhile.
        fixture.Clock.Advance(Window / 2);
        foreach (var device in devices)
        {
            var early = await Scenario.CheckInAsync(System, device.Id, device.Token, OnTarget("HGS-G"));
            Assert.Equal((CheckInResponse.DecisionOneofCase.NoUpdate, 300U), (early.DecisionCase, early.NextCheckInSeconds));
        }

        var explained = await System.Admin.ExplainDeviceAsync(new GetDeviceRequest { DeviceId = devices[0].Id }, System.AdminHeaders);
        Assert.Equal(
            $"its success in campaign 'hgs-gate' (offer '{devices[0].OfferId}') awaits health confirmation: a check-in on G2.0 from {fixture.Clock.GetUtcNow() + (Window / 2):O} confirms it; no new offer until then",
            explained.Summary);

        var halfway = await TickAsync("hgs-gate", TimeSpan.Zero);
        Assert.Equal((CampaignState.Running, 3UL, 0UL), (halfway.State, halfway.Counts.PendingConfirmation, halfway.Counts.Succeeded));

        fixture.Clock.Advance(Window / 2);
        foreach (var device in devices)
        {
            await Scenario.CheckInAsync(System, device.Id, device.Token, OnTarget("HGS-G"));
        }

        var confirmed = await TickAsync("hgs-gate", TimeSpan.Zero);
        output.WriteLine($"after the window: {confirmed.State}, gate: {confirmed.GateStatus}");
        Assert.Equal((CampaignState.Completed, 0UL, 3UL), (confirmed.State, confirmed.Counts.PendingConfirmation, confirmed.Counts.Succeeded));
    }

    [Fact]
    public async Task Halt_RollbacksInsideTheWindow_CountAsFailures_AndHalt()
    {
        var devices = await OfferedAndSucceededAsync("hgs-halt", "HGS-H", 10, plan =>
        {
            plan.Halt = new HaltPolicy { Threshold = new ThresholdPolicy { MaxFailureRate = 0.2, MinCompleted = 4 } };
        });
        var allPending = await TickAsync("hgs-halt", TimeSpan.Zero);
        Assert.Equal((CampaignState.Running, 10UL, 0UL), (allPending.State, allPending.Counts.PendingConfirmation, allPending.Counts.RolledBack));

        // Inside the window: three devices check in back on the old version and slot, one reports ROLLED_BACK for the
        // offer it had reported SUCCEEDED.
        fixture.Clock.Advance(TimeSpan.FromMinutes(3));
        foreach (var device in devices.Take(3))
        {
            var rolledBack = await Scenario.CheckInAsync(System, device.Id, device.Token, Scenario.Facts("HGS-H", "H1.0"));
            Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, rolledBack.DecisionCase);
        }

        var reported = await System.Devices.ReportAsync(new ReportRequest
        {
            DeviceId = devices[3].Id,
            OfferId = devices[3].OfferId,
            ReportId = "hgs-halt-rollback",
            Step = InstallStep.RolledBack,
            ErrorCode = "E_BOOT_HEALTH",
            RunningVersion = "H1.0",
            ActiveSlot = Slot.A,
        }, EmbeddedNodeHost.Bearer(devices[3].Token));
        Assert.Equal(OfferStatus.RolledBack, reported.Status);

        var halted = await TickAsync("hgs-halt", TimeSpan.Zero);
        output.WriteLine($"{halted.State}: {halted.Halt?.Reason}");
        Assert.Equal((6UL, 4UL, 0UL), (halted.Counts.PendingConfirmation, halted.Counts.RolledBack, halted.Counts.Succeeded));
        Assert.Equal(CampaignState.Halted, halted.State);
        Assert.Equal("policy:threshold", halted.Halt?.By);
        Assert.StartsWith("failure rate 40.0% (4 failed of 10 devices offered, 6 undecided counted as successes) > 20.0% after ≥ 4 decided", halted.Halt!.Reason);
        Assert.Equal(1UL, halted.ErrorCodes.Single(c => c.ErrorCode == "E_BOOT_HEALTH").Count);
    }

    [Fact]
    public async Task WithoutHealthWindow_SuccessCountsAtOnce_AndALaterRollbackReportIsRefused()
    {
        var devices = await OfferedAndSucceededAsync("hgs-none", "HGS-N", 4, plan =>
        {
            plan.Health = null;
            plan.Halt = new HaltPolicy { Threshold = new ThresholdPolicy { MaxFailureRate = 0.2, MinCompleted = 4 } };
        });

        var refused = await Assert.ThrowsAsync<RpcException>(() => System.Devices.ReportAsync(new ReportRequest
        {
            DeviceId = devices[0].Id,
            OfferId = devices[0].OfferId,
            ReportId = "hgs-none-rollback",
            Step = InstallStep.RolledBack,
            RunningVersion = "N1.0",
            ActiveSlot = Slot.A,
        }, EmbeddedNodeHost.Bearer(devices[0].Token)).ResponseAsync);
        var view = await TickAsync("hgs-none", TimeSpan.FromMinutes(1));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal((CampaignState.Running, 0UL, 4UL, 0UL), (view.State, view.Counts.PendingConfirmation, view.Counts.Succeeded, view.Counts.RolledBack));
    }

    /// <summary>
    /// Creates and starts a campaign with a 10-minute health window (unless <paramref name="shape"/> removes it) over
    /// <paramref name="count"/> new devices, and takes each through INSTALLED and a proven SUCCEEDED.
    /// </summary>
    private async Task<List<UpdatedDevice>> OfferedAndSucceededAsync(string campaignId, string model, int count, Action<CampaignPlan> shape)
    {
        var source = model[^1] + "1.0";
        var target = model[^1] + "2.0";
        var package = await Scenario.UploadAsync(System, Scenario.Full(model, target), Scenario.RandomBytes(512, seed: count));
        var ids = Enumerable.Range(0, count).Select(i => $"{campaignId}-{i}").ToArray();
        var tokens = await Scenario.RegisterAsync(System, ids);
        var plan = new CampaignPlan
        {
            Name = campaignId,
            Targets = { new CampaignTarget { Model = model, PackageId = package.PackageId } },
            Eligibility = new Eligibility { Models = { model } },
            InProgressTimeoutSeconds = 3600,
            Health = new HealthCheck { WindowSeconds = (uint)Window.TotalSeconds },
        };
        shape(plan);
        await System.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = campaignId, Plan = plan }, System.AdminHeaders);
        await System.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = campaignId, Reason = "health window" }, System.AdminHeaders);

        var devices = new List<UpdatedDevice>();
        foreach (var id in ids)
        {
            var checkIn = await Scenario.CheckInAsync(System, id, tokens[id], Scenario.Facts(model, source));
            Assert.Equal(CheckInResponse.DecisionOneofCase.Offer, checkIn.DecisionCase);
            var offerId = checkIn.Offer.OfferId;
            await Scenario.ReportAsync(System, id, tokens[id], offerId, InstallStep.Installed);
            var succeeded = await Scenario.ReportAsync(System, id, tokens[id], offerId, InstallStep.Succeeded, runningVersion: target);
            Assert.Equal(OfferStatus.Succeeded, succeeded.Status);
            devices.Add(new UpdatedDevice(id, tokens[id], offerId));
        }

        return devices;
    }

    private static DeviceFacts OnTarget(string model)
    {
        var facts = Scenario.Facts(model, model[^1] + "2.0");
        facts.ActiveSlot = Slot.B;
        return facts;
    }

    private async Task<Campaign> TickAsync(string id, TimeSpan by)
    {
        fixture.Clock.Advance(by);
        await System.Grains.Campaign(id).TickAsync();
        return await System.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = id }, System.AdminHeaders);
    }
}
