using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Orleans;
using Orleans.Runtime;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Silo.Host;

namespace ZteRollout.Benchmarks;

/// <summary>A registered device of a benchmark: its id, the headers carrying its own token, and its check-in.</summary>
internal sealed record BenchDevice(string Id, Metadata Headers, CheckInRequest CheckIn);

/// <summary>
/// The whole embedded orchestrator (Orleans silo + gRPC gateway + SQLite) started in this process on a temp data
/// directory and free loopback ports, with the admin steps a benchmark needs before it measures.
/// </summary>
internal sealed class OrchestratorNode : IAsyncDisposable
{
    /// <summary>The server's per-call limit of RegisterDevices.</summary>
    private const int RegisterBatch = 1000;
    private const int UploadChunk = 64 * 1024;

    private readonly WebApplication _app;
    private readonly GrpcChannel _adminChannel;
    private readonly Metadata _adminHeaders;

    private OrchestratorNode(WebApplication app, string dataDirectory, string address)
    {
        _app = app;
        DataDirectory = dataDirectory;
        Address = address;
        _adminChannel = GrpcChannel.ForAddress(address);
        Admin = new RolloutAdmin.RolloutAdminClient(_adminChannel);
        _adminHeaders = Bearer(File.ReadAllText(Path.Combine(dataDirectory, "admin-api-key")).Trim());
    }

    public string DataDirectory { get; }

    public string Address { get; }

    public RolloutAdmin.RolloutAdminClient Admin { get; }

    /// <summary>The node's grains, for what a benchmark drives directly (a campaign's tick).</summary>
    public IGrainFactory Grains => _app.Services.GetRequiredService<IGrainFactory>();

    /// <summary>Orleans' management grain of the node's silo: activation counts, forced activation collection.</summary>
    public IManagementGrain Management => _app.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);

    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    /// <param name="settings">More command-line settings for the node, e.g. <c>--Rollout:Database:Kind=postgresql</c>.</param>
    /// <param name="configureServices">Services to replace, e.g. the rollout clock.</param>
    public static async Task<OrchestratorNode> StartAsync(IEnumerable<string>? settings = null, Action<IServiceCollection>? configureServices = null)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "zte-benchmarks", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDirectory);
        string[] args =
        [
            "--data-dir", dataDirectory,
            "--urls", "http://127.0.0.1:0",
            "--Rollout:Ddi:Url=",
            "--Rollout:Operator:Url=",
            $"--Rollout:Silo:SiloPort={FreePort()}",
            $"--Rollout:Silo:GatewayPort={FreePort()}",
            "--Logging:LogLevel:Default=Warning",

            // SQLite calls block scheduler turns past a second during bulk setup; those warnings would bury the figures.
            "--Logging:LogLevel:Orleans.Runtime.Scheduler=Error",

            // A benchmark cycles through a fleet far faster than devices poll: the per-device limits stay in the path (their
            // cost is measured) but high enough never to refuse; admin setup registers and reads in bulk.
            "--Rollout:Gateway:RateLimits:PerDevice:TokenLimit=1000000",
            "--Rollout:Gateway:RateLimits:PerDevice:TokensPerPeriod=1000000",
            "--Rollout:Gateway:RateLimits:PerAdminKey:TokenLimit=1000000",
            "--Rollout:Gateway:RateLimits:PerAdminKey:TokensPerPeriod=1000000",
            .. settings ?? [],
        ];
        var app = await EmbeddedNode.BuildAsync(args, configureServices, TextWriter.Null);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new OrchestratorNode(app, dataDirectory, address);
    }

    /// <summary>
    /// Registers <paramref name="count"/> devices named <c>{prefix}-{n}</c>, in batches of 1000 with several batches
    /// in flight, and returns them with their tokens and a prebuilt check-in (model, version).
    /// </summary>
    public async Task<BenchDevice[]> RegisterDevicesAsync(string prefix, int count, int batchesInFlight, string model, string version)
    {
        var tokens = await RegisterTokensAsync(prefix, count, batchesInFlight);
        return [.. tokens.Select((token, i) => new BenchDevice(DeviceId(prefix, i), Bearer(token), new CheckInRequest { DeviceId = DeviceId(prefix, i), Facts = Facts(model, version) }))];
    }

    /// <summary>
    /// Registers <paramref name="count"/> devices named <c>{prefix}-{n}</c>, in batches of 1000 with several batches
    /// in flight, and returns only their tokens (index n), for a client that must hold little per device.
    /// </summary>
    public async Task<string[]> RegisterTokensAsync(string prefix, int count, int batchesInFlight)
    {
        var tokens = new string[count];
        var batches = Enumerable.Range(0, count).Chunk(RegisterBatch);
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = batchesInFlight }, async (batch, ct) =>
        {
            var request = new RegisterDevicesRequest();
            request.Devices.Add(batch.Select(i => new DeviceRegistration { DeviceId = DeviceId(prefix, i) }));
            var response = await Admin.RegisterDevicesAsync(request, AdminOptions(ct));
            for (var k = 0; k < batch.Length; k++)
            {
                var credential = response.Credentials[k];
                var id = DeviceId(prefix, batch[k]);
                if (credential.DeviceId != id)
                {
                    throw new InvalidOperationException($"RegisterDevices answered '{credential.DeviceId}' where '{id}' was asked.");
                }

                tokens[batch[k]] = credential.Token;
            }
        });
        return tokens;
    }

    /// <summary>Uploads random bytes as a FULL package for one model.</summary>
    public async Task<Package> UploadFullPackageAsync(string model, string version, int size)
    {
        var bytes = RandomNumberGenerator.GetBytes(size);
        using var call = Admin.UploadPackage(AdminOptions());
        await call.RequestStream.WriteAsync(new UploadPackageRequest
        {
            Metadata = new PackageMetadata { Version = version, TargetModels = { model }, Kind = PackageKind.Full, ReleaseNotes = "benchmark build" },
        });
        for (var offset = 0; offset < bytes.Length; offset += UploadChunk)
        {
            await call.RequestStream.WriteAsync(new UploadPackageRequest { Chunk = ByteString.CopyFrom(bytes, offset, Math.Min(UploadChunk, bytes.Length - offset)) });
        }

        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    public async Task<Campaign> CreateAndStartCampaignAsync(string campaignId, CampaignPlan plan)
    {
        await Admin.CreateCampaignAsync(new CreateCampaignRequest { CampaignId = campaignId, Plan = plan }, AdminOptions());
        return await Admin.StartCampaignAsync(new CampaignRequest { CampaignId = campaignId, Reason = "benchmark" }, AdminOptions());
    }

    public async Task<Campaign> GetCampaignAsync(string campaignId) =>
        await Admin.GetCampaignAsync(new CampaignRequest { CampaignId = campaignId }, AdminOptions());

    public async Task<ZteRollout.Admin.V1.Device> GetDeviceAsync(string deviceId) =>
        await Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = deviceId }, AdminOptions());

    public async ValueTask DisposeAsync()
    {
        _adminChannel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by the stopping node; the temp folder is the OS's to clean.
        }
    }

    public static string DeviceId(string prefix, int index) => $"{prefix}-{index:D6}";

    public static DeviceFacts Facts(string model, string version) => new()
    {
        Model = model,
        HardwareRevision = "R1",
        Region = "EU",
        Carrier = "bench-carrier",
        CurrentVersion = version,
        ActiveSlot = Slot.A,
        BatteryPercent = 80,
        FreeStorageBytes = 8UL << 30,
        AgentVersion = "bench-1",
    };

    private CallOptions AdminOptions(CancellationToken ct = default) => new(_adminHeaders, DateTime.UtcNow.AddMinutes(5), ct);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
