using System.Text;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Tests.Infrastructure;
using Agent = ZteRollout.DeviceAgent.DeviceAgent;

namespace ZteRollout.Tests.Gateway;

/// <summary>
/// The reference agent refuses what it must not install, reports FAILED with the code, installs nothing, and the
/// server counts the failure in the campaign. Refusals the real server never provokes are driven by a man in the
/// middle that swaps the offer for another genuinely signed manifest (a replay) or tampers with its bytes.
/// </summary>
[Collection(NodeCollection.Name)]
public sealed partial class AgentRefusalTests(NodeFixture fixture)
{
    private readonly Dictionary<string, string> _tokens = [];

    private EmbeddedNodeHost Node => fixture.Node;

    [Fact]
    public async Task Agent_TamperedManifest_RefusesWithBadSignature_AndTheServerCountsIt()
    {
        await UpgradeCampaignAsync("AR-S", "ar-s");

        // An attacker points the signed manifest at other bytes; the signature no longer covers what it says.
        var (result, device) = await RunAgentAsync("ar-s-1", "AR-S", "AR1.0", offer =>
            offer.Manifest = ByteString.CopyFrom(Encoding.UTF8.GetBytes(
                Sha256Field().Replace(offer.Manifest.ToStringUtf8(), $"\"sha256\":\"{new string('e', 64)}\""))));

        await AssertRefusedAsync(result, device, "ar-s", "ar-s-1", "E_MANIFEST_SIGNATURE", "AR1.0");
    }

    [Fact]
    public async Task Agent_SignedDeltaForAnotherBase_RefusesWithDeltaBaseMismatch_AndTheServerCountsIt()
    {
        var (_, model) = await UpgradeCampaignAsync("AR-D", "ar-d");
        var otherBase = await Scenario.UploadAsync(Node, Scenario.Delta(model, "AR1.5", "AR2.0"), Scenario.RandomBytes(2048, seed: 93));

        // The device runs AR1.2, so the server offers the FULL; the replayed delta is genuine but patches AR1.5.
        var (result, device) = await RunAgentAsync("ar-d-1", model, "AR1.2", offer => Replay(offer, otherBase));

        await AssertRefusedAsync(result, device, "ar-d", "ar-d-1", "E_DELTA_BASE_MISMATCH", "AR1.2");
    }

    [Theory]
    [InlineData("G0", "")]
    [InlineData("G1", "AR2.0")]
    public async Task Agent_LowerVersionWithoutAuthorizationForItsVersion_RefusesWithDowngrade_AndTheServerCountsIt(string name, string authorizedFrom)
    {
        var (model, campaignId, deviceId) = ("AR-" + name, "ar-" + name, $"ar-{name}-1");
        await UpgradeCampaignAsync(model, campaignId, target: "AR4.0");
        var older = Scenario.Full(model, "AR1.0");
        if (authorizedFrom.Length > 0)
        {
            older.RollbackFrom.Add(authorizedFrom);
        }

        var olderPackage = await Scenario.UploadAsync(Node, older, Scenario.RandomBytes(2048, seed: 94));

        // A genuine, signed, older package replayed to a device on AR3.0: unauthorized, or authorized only from AR2.0.
        var (result, device) = await RunAgentAsync(deviceId, model, "AR3.0", offer => Replay(offer, olderPackage));

        await AssertRefusedAsync(result, device, campaignId, deviceId, "E_DOWNGRADE", "AR3.0");
    }

    [Fact]
    public async Task Agent_AuthorizedRollbackBelowItsSecurityFloor_RefusesWithSecurityFloor_AndTheServerCountsIt()
    {
        var upgrade = Scenario.Full("AR-F", "AR2.0");
        upgrade.SecurityVersion = 3;
        var upgradePackage = await Scenario.UploadAsync(Node, upgrade, Scenario.RandomBytes(2048, seed: 95));
        await Scenario.StartCampaignAsync(Node, "ar-f-up", "AR-F", upgradePackage.PackageId);
        var (installed, device) = await RunAgentAsync("ar-f-1", "AR-F", "AR1.0");
        Assert.Equal((AgentOutcome.Succeeded, "AR2.0", 3U), (installed.Outcome, device.CurrentVersion, device.SecurityFloor));
        await Node.Admin.CancelCampaignAsync(new CampaignRequest { CampaignId = "ar-f-up", Reason = "done" }, Node.AdminHeaders);

        // The rollback is signed and authorized from AR2.0, and the server offers it; but it was built before the
        // security fix that AR2.0's security version 3 records.
        var rollback = Scenario.Full("AR-F", "AR1.0");
        rollback.SecurityVersion = 2;
        rollback.RollbackFrom.Add("AR2.0");
        var rollbackPackage = await Scenario.UploadAsync(Node, rollback, Scenario.RandomBytes(2048, seed: 96));
        await StartRollbackAsync("ar-f", "AR-F", rollbackPackage.PackageId);
        var result = await RunAgentAsync("ar-f-1", "AR-F", device);

        await AssertRefusedAsync(result, device, "ar-f", "ar-f-1", "E_SECURITY_FLOOR", "AR2.0", Slot.B);
        Assert.Equal(3U, device.SecurityFloor);
    }

    [Fact]
    public async Task Agent_AuthorizedRollbackAtItsSecurityFloor_Installs_AndKeepsTheFloor()
    {
        var upgrade = Scenario.Full("AR-K", "AR2.0");
        upgrade.SecurityVersion = 3;
        var upgradePackage = await Scenario.UploadAsync(Node, upgrade, Scenario.RandomBytes(2048, seed: 97));
        await Scenario.StartCampaignAsync(Node, "ar-k-up", "AR-K", upgradePackage.PackageId);
        var (_, device) = await RunAgentAsync("ar-k-1", "AR-K", "AR1.0");
        await Node.Admin.CancelCampaignAsync(new CampaignRequest { CampaignId = "ar-k-up", Reason = "done" }, Node.AdminHeaders);
        var rollback = Scenario.Full("AR-K", "AR1.0");
        rollback.SecurityVersion = 3;
        rollback.RollbackFrom.Add("AR2.0");
        var rollbackPackage = await Scenario.UploadAsync(Node, rollback, Scenario.RandomBytes(2048, seed: 98));
        await StartRollbackAsync("ar-k", "AR-K", rollbackPackage.PackageId);

        var result = await RunAgentAsync("ar-k-1", "AR-K", device);

        Assert.Equal((AgentOutcome.Succeeded, "AR1.0", 3U), (result.Outcome, device.CurrentVersion, device.SecurityFloor));
        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = "ar-k" }, Node.AdminHeaders);
        Assert.Equal((1UL, 0UL), (campaign.Counts.Succeeded, campaign.Counts.Failed));
    }

    /// <summary>A running upgrade campaign for <paramref name="model"/>: FULL <paramref name="target"/> and a delta to it from AR1.0.</summary>
    private async Task<(Package Full, string Model)> UpgradeCampaignAsync(string model, string campaignId, string target = "AR2.0")
    {
        var full = await Scenario.UploadAsync(Node, Scenario.Full(model, target), Scenario.RandomBytes(4096, seed: 91));
        await Scenario.UploadAsync(Node, Scenario.Delta(model, "AR1.0", target), Scenario.RandomBytes(1024, seed: 92));
        await Scenario.StartCampaignAsync(Node, campaignId, model, full.PackageId);
        return (full, model);
    }

    private async Task StartRollbackAsync(string campaignId, string model, string packageId)
    {
        var plan = new CampaignPlan
        {
            Name = campaignId,
            Rollback = true,
            Targets = { new CampaignTarget { Model = model, PackageId = packageId } },
            Eligibility = new Eligibility { Models = { model } },
            InProgressTimeoutSeconds = 3600,
        };
        await Node.Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = campaignId, Plan = plan }, Node.AdminHeaders);
        await Node.Admin.StartCampaignAsync(new CampaignRequest { CampaignId = campaignId, Reason = "roll back" }, Node.AdminHeaders);
    }

    /// <summary>Registers a device on <paramref name="version"/> and runs one round of the agent, the offer passing through <paramref name="intercept"/>.</summary>
    private async Task<(AgentRunResult Result, SimulatedDevice Device)> RunAgentAsync(string deviceId, string model, string version, Action<Offer>? intercept = null)
    {
        var device = SimulatedDevice.Create(Path.Combine(Node.DataDirectory, "agents", deviceId), version);
        return (await RunAgentAsync(deviceId, model, device, intercept), device);
    }

    private async Task<AgentRunResult> RunAgentAsync(string deviceId, string model, SimulatedDevice device, Action<Offer>? intercept = null)
    {
        if (!_tokens.TryGetValue(deviceId, out var token))
        {
            token = (await Scenario.RegisterAsync(Node, deviceId))[deviceId];
            _tokens[deviceId] = token;
        }

        var key = (await Node.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), Node.AdminHeaders)).PublicKeyPem;
        var invoker = intercept is null ? Node.Channel.CreateCallInvoker() : Node.Channel.Intercept(new OfferInterceptor(intercept));
        var agent = new Agent(invoker, deviceId, token, key, device, new AgentBehavior { Model = model });
        return await agent.RunOnceAsync(CancellationToken.None);
    }

    /// <summary>The offer now carries another package's genuine manifest and signature (a replay).</summary>
    private static void Replay(Offer offer, Package other)
    {
        offer.PackageId = other.PackageId;
        offer.DownloadSize = other.Size;
        offer.Manifest = other.Manifest;
        offer.ManifestSignature = other.ManifestSignature;
    }

    [GeneratedRegex("\"sha256\":\"[0-9a-f]{64}\"")]
    private static partial Regex Sha256Field();

    private async Task AssertRefusedAsync(
        AgentRunResult result, SimulatedDevice device, string campaignId, string deviceId, string code, string version, Slot slot = Slot.A)
    {
        Assert.Equal((AgentOutcome.Refused, code), (result.Outcome, result.ErrorCode));
        Assert.Equal((version, slot), (device.CurrentVersion, device.ActiveSlot));
        Assert.Null(device.Pending);

        var stored = await Node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = deviceId }, Node.AdminHeaders);
        Assert.Equal((result.OfferId, OfferStatus.Failed, code), (stored.CurrentOffer.OfferId, stored.CurrentOffer.Status, stored.CurrentOffer.ErrorCode));
        var campaign = await Node.Admin.GetCampaignAsync(new CampaignRequest { CampaignId = campaignId }, Node.AdminHeaders);
        Assert.Equal((1UL, 1UL, 0UL), (campaign.Counts.Offered, campaign.Counts.Failed, campaign.Counts.Succeeded));
        Assert.Equal((code, 1UL), (campaign.ErrorCodes.Single().ErrorCode, campaign.ErrorCodes.Single().Count));
    }

    /// <summary>A man in the middle on the device's channel: rewrites the offer of every check-in answer.</summary>
    private sealed class OfferInterceptor(Action<Offer> rewrite) : Interceptor
    {
        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
            TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(request, context);
            return new AsyncUnaryCall<TResponse>(RewriteAsync(call.ResponseAsync), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        private async Task<TResponse> RewriteAsync<TResponse>(Task<TResponse> response)
        {
            var answer = await response;
            if (answer is CheckInResponse { DecisionCase: CheckInResponse.DecisionOneofCase.Offer } checkIn)
            {
                rewrite(checkIn.Offer);
            }

            return answer;
        }
    }
}
