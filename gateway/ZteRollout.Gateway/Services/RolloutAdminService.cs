using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using ZteRollout.Admin.V1;
using CampaignState = ZteRollout.Shared.Campaigns.CampaignState;
using FleetStatus = ZteRollout.Admin.V1.FleetStatus;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Blobs;
using System.Collections.Immutable;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Gateway.Services;

/// <summary>The admin API: validate, call the owning grain, map the answer. Roles per rpc by policy.</summary>
[Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.Viewer)]
public sealed class RolloutAdminService(IGrainFactory grains, BlobStore blobs, IOptions<GatewayOptions> options, DeviceTokenMac tokens) : RolloutAdmin.RolloutAdminBase
{
    private IPackageCatalogGrain Catalog => grains.GetGrain<IPackageCatalogGrain>(0);

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<Package> UploadPackage(IAsyncStreamReader<UploadPackageRequest> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct) || requestStream.Current.PartCase != UploadPackageRequest.PartOneofCase.Metadata)
        {
            throw RolloutException.InvalidField("metadata", "the first message of an upload must carry the package metadata");
        }

        var declared = requestStream.Current.Metadata;
        var metadata = AdminRequests.ToMetadata(declared);
        await using var pending = blobs.BeginUpload(options.Value.MaxPackageBytes);
        while (await requestStream.MoveNext(ct))
        {
            if (requestStream.Current.PartCase != UploadPackageRequest.PartOneofCase.Chunk)
            {
                throw RolloutException.InvalidField("metadata", "metadata may come only once, in the first message");
            }

            await pending.AppendAsync(requestStream.Current.Chunk.Memory, ct);
        }

        if (pending.Length == 0)
        {
            throw RolloutException.InvalidField("chunk", "the package has no bytes");
        }

        var sha256 = await pending.CommitAsync(ct);
        if (declared.ExpectedSha256.Length > 0 && !string.Equals(declared.ExpectedSha256, sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw RolloutException.InvalidField("metadata.expected_sha256",
                $"declared {declared.ExpectedSha256.ToLowerInvariant()} but the uploaded bytes hash to {sha256}");
        }

        // A signed manifest is checked by the catalog, which holds the trust store; the gateway holds no signing key.
        var record = declared.SignedManifest.IsEmpty && declared.ManifestSignature.IsEmpty
            ? await Catalog.RegisterAsync(metadata, pending.Length, sha256)
            : await Catalog.RegisterSignedAsync(metadata, pending.Length, sha256,
                declared.SignedManifest.ToByteArray(), declared.ManifestSignature.ToByteArray());
        var package = AdminRequests.ToProto(record);
        if (metadata.Kind == Shared.Packages.PackageKind.Full && PayloadProbe.UploadWarning(await blobs.ReadHeadAsync(sha256, PayloadProbe.SampleBytes, ct)) is { } warning)
        {
            package.Warnings.Add(warning);
        }

        package.Deltas.AddRange((await Deltas.ListAsync(package.PackageId)).Select(AdminRequests.ToProto));
        return package;
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<DeltaGeneration> GenerateDelta(GenerateDeltaRequest request, ServerCallContext context)
    {
        var problems = new ViolationList();
        if (string.IsNullOrEmpty(request.FromPackageId))
        {
            problems.Add("from_package_id", "is required");
        }

        if (string.IsNullOrEmpty(request.ToPackageId))
        {
            problems.Add("to_package_id", "is required");
        }

        problems.ThrowIfAny();
        var from = await Catalog.GetAsync(request.FromPackageId) ?? throw RolloutException.NotFound($"package '{request.FromPackageId}' does not exist");
        var to = await Catalog.GetAsync(request.ToPackageId) ?? throw RolloutException.NotFound($"package '{request.ToPackageId}' does not exist");
        var pair = DeltaRequests.Validate(from, to);
        var jobs = await Deltas.RequestAsync([pair], Actor(context));
        return AdminRequests.ToProto(jobs[0]);
    }

    public override async Task<Package> GetPackage(GetPackageRequest request, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.PackageId))
        {
            throw RolloutException.InvalidField("package_id", "is required");
        }

        var package = await Catalog.GetAsync(request.PackageId) ?? throw RolloutException.NotFound($"package '{request.PackageId}' does not exist");
        var answer = AdminRequests.ToProto(package);
        answer.Deltas.AddRange((await Deltas.ListAsync(package.PackageId)).Select(AdminRequests.ToProto));
        return answer;
    }

    public override async Task<ListPackagesResponse> ListPackages(ListPackagesRequest request, ServerCallContext context)
    {
        var response = new ListPackagesResponse();
        response.Packages.AddRange((await Catalog.ListAsync(request.Model.Length == 0 ? null : request.Model)).Select(AdminRequests.ToProto));
        return response;
    }

    public override async Task<SigningKey> GetSigningKey(GetSigningKeyRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await Catalog.GetSigningKeyAsync(), await Catalog.ListReleaseKeysAsync());

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<SigningKey> TrustReleaseKey(TrustReleaseKeyRequest request, ServerCallContext context)
    {
        var problems = new ViolationList();
        if (request.Statement.IsEmpty)
        {
            problems.Add("statement", "is required");
        }

        if (request.Signature.IsEmpty)
        {
            problems.Add("signature", "is required");
        }

        problems.ThrowIfAny();
        var keys = await Catalog.TrustKeyAsync(request.Statement.ToByteArray(), request.Signature.ToByteArray());
        return AdminRequests.ToProto(await Catalog.GetSigningKeyAsync(), keys);
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<RegisterDevicesResponse> RegisterDevices(RegisterDevicesRequest request, ServerCallContext context)
    {
        var problems = new ViolationList();
        if (request.Devices.Count == 0)
        {
            problems.Add("devices", "must list at least one device");
        }

        if (request.Devices.Count > options.Value.MaxRegisterBatch)
        {
            throw RolloutException.ResourceExhausted($"devices: at most {options.Value.MaxRegisterBatch} per call, got {request.Devices.Count}");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < request.Devices.Count; i++)
        {
            var d = request.Devices[i];
            if (DeviceIdentity.ValidateId(d.DeviceId) is { } idProblem)
            {
                problems.Add($"devices[{i}].device_id", idProblem);
            }
            else if (!seen.Add(d.DeviceId))
            {
                problems.Add($"devices[{i}].device_id", $"'{d.DeviceId}' appears twice in the request");
            }

            if (d.Tags.Count > AdminRequests.MaxTags || d.Tags.Any(t => t.Length is 0 or > 64))
            {
                problems.Add($"devices[{i}].tags", $"at most {AdminRequests.MaxTags} tags of 1-64 characters");
            }
        }

        problems.ThrowIfAny();
        if (!request.RotateExisting)
        {
            // Check first, so a batch with a known device changes nothing.
            var registered = await Task.WhenAll(request.Devices.Select(async d => (d.DeviceId, Known: await grains.Device(d.DeviceId).IsRegisteredAsync())));
            var known = registered.Where(r => r.Known).Select(r => r.DeviceId).ToList();
            if (known.Count > 0)
            {
                throw RolloutException.AlreadyExists(
                    $"{known.Count} device(s) already registered: {string.Join(", ", known.Take(10))}{(known.Count > 10 ? ", ..." : string.Empty)}; set rotate_existing to issue new credentials");
            }
        }

        var credentials = await Task.WhenAll(request.Devices.Select(async d =>
        {
            // Signed with the gateways' device-token key, so gateways refuse tokens they did not issue without a grain call.
            var token = tokens.Issue(d.DeviceId);
            DeviceIdentity.TryParseToken(token, out _, out var secret);
            await grains.Device(d.DeviceId).RegisterAsync(DeviceIdentity.HashSecret(secret), [.. d.Tags], request.RotateExisting);
            return new DeviceCredential { DeviceId = d.DeviceId, Token = token };
        }));
        var response = new RegisterDevicesResponse();
        response.Credentials.AddRange(credentials);
        return response;
    }

    public override async Task<ZteRollout.Admin.V1.Device> GetDevice(GetDeviceRequest request, ServerCallContext context)
    {
        if (DeviceIdentity.ValidateId(request.DeviceId) is { } problem)
        {
            throw RolloutException.InvalidField("device_id", problem);
        }

        return AdminRequests.ToProto(await grains.Device(request.DeviceId).GetViewAsync());
    }

    public override async Task<ZteRollout.Admin.V1.DeviceExplanation> ExplainDevice(GetDeviceRequest request, ServerCallContext context)
    {
        if (DeviceIdentity.ValidateId(request.DeviceId) is { } problem)
        {
            throw RolloutException.InvalidField("device_id", problem);
        }

        return AdminRequests.ToProto(await grains.Device(request.DeviceId).ExplainAsync());
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<Campaign> CreateCampaign(CreateCampaignRequest request, ServerCallContext context)
    {
        var id = AdminRequests.ValidateCampaignId(request.CampaignId, allowEmpty: true);
        var plan = AdminRequests.ToPlan(request.Plan);
        return AdminRequests.ToProto(await grains.Campaign(id).CreateAsync(plan, Actor(context), AdminRequests.RequestId(request.RequestId)), withAudit: true);
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<Campaign> StartCampaign(CampaignRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await CampaignOf(request).StartAsync(Actor(context), request.Reason, RequestId(request)), withAudit: true);

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<Campaign> CancelCampaign(CampaignRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await CampaignOf(request).CancelAsync(Actor(context), request.Reason, RequestId(request)), withAudit: true);

    public override async Task<Campaign> GetCampaign(CampaignRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await CampaignOf(request).GetAsync(), withAudit: true);

    public override async Task<ListCampaignsResponse> ListCampaigns(ListCampaignsRequest request, ServerCallContext context)
    {
        if (!Enum.IsDefined(request.State))
        {
            throw RolloutException.InvalidField("state", $"unknown state {(int)request.State}");
        }

        var ids = await Directory.ListAsync(AdminRequests.ToState(request.State));
        var views = await Task.WhenAll(ids.Select(id => grains.Campaign(id).GetAsync()));
        var response = new ListCampaignsResponse();
        response.Campaigns.AddRange(views.Select(v => AdminRequests.ToProto(v, withAudit: false)));
        return response;
    }

    public override Task<ValidateCampaignResponse> ValidateCampaign(CreateCampaignRequest request, ServerCallContext context) =>
        CampaignValidation.ValidateAsync(grains, request);

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<Campaign> PauseCampaign(CampaignRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await CampaignOf(request).PauseAsync(Actor(context), request.Reason, RequestId(request)), withAudit: true);

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManagerOrSre)]
    public override async Task<Campaign> ResumeCampaign(CampaignRequest request, ServerCallContext context)
    {
        var user = context.GetHttpContext().User;
        var maySresume = user.IsInRole(RolloutAuth.Roles.Sre) || user.IsInRole(RolloutAuth.Roles.Admin);
        return AdminRequests.ToProto(await CampaignOf(request).ResumeAsync(Actor(context), request.Reason, maySresume, RequestId(request)), withAudit: true);
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.ReleaseManager)]
    public override async Task<Campaign> AdvanceCampaign(CampaignRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await CampaignOf(request).AdvanceAsync(Actor(context), request.Reason, request.HasFromStage ? AdminRequests.Stage(request.FromStage) : null, RequestId(request)), withAudit: true);

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.Sre)]
    public override async Task<Campaign> HaltCampaign(CampaignRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await CampaignOf(request).HaltAsync(Actor(context), request.Reason, RequestId(request)), withAudit: true);

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.Sre)]
    public override async Task<Campaign> LiftCohortHalt(LiftCohortHaltRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await grains.Campaign(AdminRequests.ValidateCampaignId(request.CampaignId, allowEmpty: false))
            .LiftCohortHaltAsync(request.Dimension, request.Value, Actor(context), request.Reason, AdminRequests.RequestId(request.RequestId)), withAudit: true);

    public override async Task WatchCampaign(CampaignRequest request, IServerStreamWriter<Campaign> responseStream, ServerCallContext context)
    {
        var campaign = CampaignOf(request);
        var ct = context.CancellationToken;
        long? sent = null;
        while (!ct.IsCancellationRequested)
        {
            // The campaign's latest committed view from memory: a watcher never adds work the campaign must wait for.
            var view = await campaign.GetLatestViewAsync();
            if (view.StatusVersion != sent)
            {
                await responseStream.WriteAsync(AdminRequests.ToProto(view, withAudit: true), ct);
                sent = view.StatusVersion;
            }

            if (view.State is CampaignState.Completed or CampaignState.Canceled)
            {
                return;
            }

            try
            {
                // A watch is a view, not a decision: polling the campaign on real time is enough and costs one call.
                await Task.Delay(WatchInterval, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.Sre)]
    public override async Task<FleetStatus> FreezeFleet(FleetRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Reason))
        {
            throw RolloutException.InvalidField("reason", "a freeze needs a reason");
        }

        return AdminRequests.ToProto(await Directory.FreezeAsync(Actor(context), request.Reason));
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.Sre)]
    public override async Task<FleetStatus> UnfreezeFleet(FleetRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await Directory.UnfreezeAsync(Actor(context), request.Reason));

    public override async Task<FleetStatus> GetFleetStatus(FleetRequest request, ServerCallContext context) =>
        AdminRequests.ToProto(await Directory.GetFleetStatusAsync());

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.Admin)]
    public override async Task<DdiGatewayTokenSecret> CreateDdiGatewayToken(CreateDdiGatewayTokenRequest request, ServerCallContext context)
    {
        var name = Ddi.DdiGatewayTokens.ValidateName(request.Name);
        var secret = Ddi.DdiGatewayTokens.NewSecret();
        var info = await GatewayTokens.CreateAsync(name, Ddi.DdiGatewayTokens.Hash(secret), Actor(context));
        return new DdiGatewayTokenSecret { Token = Ddi.DdiGatewayTokens.ToProto(info), Secret = secret };
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.Admin)]
    public override async Task<ListDdiGatewayTokensResponse> ListDdiGatewayTokens(ListDdiGatewayTokensRequest request, ServerCallContext context)
    {
        var response = new ListDdiGatewayTokensResponse();
        response.Tokens.AddRange((await GatewayTokens.ListAsync()).Select(Ddi.DdiGatewayTokens.ToProto));
        return response;
    }

    [Authorize(AuthenticationSchemes = RolloutAuth.ApiKeyScheme, Policy = RolloutAuth.Policies.Admin)]
    public override async Task<DdiGatewayToken> RevokeDdiGatewayToken(RevokeDdiGatewayTokenRequest request, ServerCallContext context) =>
        Ddi.DdiGatewayTokens.ToProto(await GatewayTokens.RevokeAsync(Ddi.DdiGatewayTokens.ValidateName(request.Name), Actor(context)));

    private IGatewayTokenGrain GatewayTokens => grains.GetGrain<IGatewayTokenGrain>(0);

    private static readonly TimeSpan WatchInterval = TimeSpan.FromMilliseconds(500);

    private ICampaignDirectoryGrain Directory => grains.GetGrain<ICampaignDirectoryGrain>(0);

    private IDeltaGenerationGrain Deltas => grains.GetGrain<IDeltaGenerationGrain>(0);

    private ICampaignGrain CampaignOf(CampaignRequest request) =>
        grains.Campaign(AdminRequests.ValidateCampaignId(request.CampaignId, allowEmpty: false));

    private static string? RequestId(CampaignRequest request) => AdminRequests.RequestId(request.RequestId);

    private static string Actor(ServerCallContext context) => context.GetHttpContext().User.Identity?.Name ?? "unknown";
}
