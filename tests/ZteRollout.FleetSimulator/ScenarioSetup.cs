using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using ZteRollout.Admin.V1;

namespace ZteRollout.FleetSimulator;

/// <summary>The admin API calls of a run: devices, packages, signing key, campaign.</summary>
internal sealed class ScenarioSetup(GrpcChannel channel, string adminKey)
{
    /// <summary>The server's per-call limit of RegisterDevices.</summary>
    private const int RegisterBatch = 1000;
    private const int UploadChunk = 64 * 1024;

    private readonly RolloutAdmin.RolloutAdminClient _admin = new(channel);
    private readonly Metadata _headers = new() { { "authorization", "Bearer " + adminKey } };

    /// <summary>Registers the devices and returns each one's token, by device id.</summary>
    public async Task<Dictionary<string, string>> RegisterDevicesAsync(IReadOnlyList<string> deviceIds, CancellationToken ct)
    {
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var batch in deviceIds.Chunk(RegisterBatch))
        {
            var request = new RegisterDevicesRequest();
            request.Devices.Add(batch.Select(id => new DeviceRegistration { DeviceId = id, Tags = { "fleet-simulator" } }));
            var response = await _admin.RegisterDevicesAsync(request, Options(ct));
            foreach (var credential in response.Credentials)
            {
                tokens[credential.DeviceId] = credential.Token;
            }
        }

        var missing = deviceIds.FirstOrDefault(id => !tokens.ContainsKey(id));
        return missing is null ? tokens : throw new InvalidOperationException($"RegisterDevices returned no token for '{missing}'.");
    }

    public async Task<string> GetSigningKeyPemAsync(CancellationToken ct) =>
        (await _admin.GetSigningKeyAsync(new GetSigningKeyRequest(), Options(ct))).PublicKeyPem;

    /// <summary>Uploads random bytes as a package; the server must hash them as we did.</summary>
    public Task<Package> UploadAsync(PackageMetadata metadata, long size, CancellationToken ct)
    {
        // Held in memory whole: simulator packages are small, and the hash must precede the bytes in the stream.
        var bytes = new byte[size];
        RandomNumberGenerator.Fill(bytes);
        return UploadAsync(metadata, bytes, ct);
    }

    /// <summary>Polls the FULL package until the server's delta from <paramref name="baseVersion"/> has finished.</summary>
    public async Task<DeltaGeneration> WaitForDeltaAsync(string fullPackageId, string baseVersion, CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        while (true)
        {
            var package = await _admin.GetPackageAsync(new GetPackageRequest { PackageId = fullPackageId }, Options(ct));
            var job = package.Deltas.FirstOrDefault(d => d.FromVersion == baseVersion)
                ?? throw new InvalidOperationException($"The server started no delta from {baseVersion} to package {fullPackageId}.");
            if (job.State is not (DeltaGenerationState.Queued or DeltaGenerationState.Building))
            {
                return job;
            }

            if (DateTime.UtcNow - started > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException($"The delta from {baseVersion} is still {job.State} after 10 minutes.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }
    }

    /// <summary>Uploads the given bytes as a package; the server must hash them as we did.</summary>
    public async Task<Package> UploadAsync(PackageMetadata metadata, byte[] bytes, CancellationToken ct)
    {
        var size = bytes.LongLength;
        metadata.ExpectedSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));

        using var call = _admin.UploadPackage(Options(ct));
        await call.RequestStream.WriteAsync(new UploadPackageRequest { Metadata = metadata }, ct);
        for (var offset = 0; offset < bytes.Length; offset += UploadChunk)
        {
            var chunk = ByteString.CopyFrom(bytes, offset, Math.Min(UploadChunk, bytes.Length - offset));
            await call.RequestStream.WriteAsync(new UploadPackageRequest { Chunk = chunk }, ct);
        }

        await call.RequestStream.CompleteAsync();
        var package = await call.ResponseAsync;
        return package.Sha256 == metadata.ExpectedSha256 && (long)package.Size == size
            ? package
            : throw new InvalidOperationException($"Package {package.PackageId} stored as {package.Size} bytes {package.Sha256}, uploaded {size} bytes {metadata.ExpectedSha256}.");
    }

    /// <summary>Creates and starts a campaign that gives <paramref name="fullPackageId"/> (or its deltas) to the model's devices of one carrier.</summary>
    public async Task<string> StartCampaignAsync(string name, string model, string carrier, string fullPackageId, CancellationToken ct)
    {
        var plan = new CampaignPlan
        {
            Name = name,
            Targets = { new CampaignTarget { Model = model, PackageId = fullPackageId } },
            Eligibility = new Eligibility { Models = { model }, Carriers = { carrier } },
            InProgressTimeoutSeconds = 3600,
        };
        var created = await _admin.CreateCampaignAsync(new CreateCampaignRequest { Plan = plan }, Options(ct));
        await _admin.StartCampaignAsync(new CampaignRequest { CampaignId = created.CampaignId, Reason = "fleet simulator run" }, Options(ct));
        return created.CampaignId;
    }

    public async Task<CampaignCounts> GetCountsAsync(string campaignId, CancellationToken ct) =>
        (await _admin.GetCampaignAsync(new CampaignRequest { CampaignId = campaignId }, Options(ct))).Counts ?? new CampaignCounts();

    private CallOptions Options(CancellationToken ct) => new(_headers, DateTime.UtcNow.AddMinutes(2), ct);
}
