using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Hosting;
using ZteRollout.Shared;
using ZteRollout.Silo;
using ZteRollout.Silo.Hosting;
using ZteRollout.Silo.Packages;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>
/// A TestingHost cluster (grain state and reminders in one real SQLite file through the Orleans ADO.NET providers)
/// with a real gRPC gateway in front of it as an Orleans client, all on one fake rollout clock.
/// Start it again on the same data directory to restart the whole system.
/// </summary>
public sealed class RolloutCluster : IAsyncDisposable, IRolloutEndpoint
{
    private readonly List<WebApplication> _gateways;

    private RolloutCluster(InProcessTestCluster cluster, List<WebApplication> gateways, string dataDirectory, List<string> addresses)
    {
        Cluster = cluster;
        _gateways = gateways;
        DataDirectory = dataDirectory;
        GatewayAddresses = addresses;
        Channel = GrpcChannel.ForAddress(addresses[0]);
        AdminKey = File.ReadAllText(Path.Combine(dataDirectory, ApiKeyStore.BootstrapFileName)).Trim();
        Admin = new RolloutAdmin.RolloutAdminClient(Channel);
        Devices = new DeviceUpdate.DeviceUpdateClient(Channel);
    }

    public InProcessTestCluster Cluster { get; }

    /// <summary>The gateways' addresses; <see cref="Channel"/> goes to the first.</summary>
    public IReadOnlyList<string> GatewayAddresses { get; }

    public IGrainFactory Grains => Cluster.Client;

    public string DataDirectory { get; }

    public GrpcChannel Channel { get; }

    public string AdminKey { get; }

    public Metadata AdminHeaders => EmbeddedNodeHost.Bearer(AdminKey);

    public RolloutAdmin.RolloutAdminClient Admin { get; }

    public DeviceUpdate.DeviceUpdateClient Devices { get; }

    /// <param name="database">Where state and reminders go; a SQLite file in the data directory when null.</param>
    /// <param name="gateways">How many gateway processes (web hosts) front the cluster, each an Orleans client.</param>
    /// <param name="configureSilo">More silo configuration after ZteRollout's own, e.g. injected faults.</param>
    public static async Task<RolloutCluster> StartAsync(
        string dataDirectory, FakeTimeProvider clock, int silos = 2, RolloutDatabase? database = null, int gateways = 1,
        Action<ISiloBuilder>? configureSilo = null)
    {
        database ??= RolloutDatabase.SqliteFile(Path.Combine(dataDirectory, "cluster.db"));
        await database.PrepareAsync(CancellationToken.None);
        var builder = new InProcessTestClusterBuilder((short)silos);

        // Stored state is keyed by service id: a fixed one lets a new cluster on the same file find it (a restart).
        builder.Options.ServiceId = "zte-rollout-tests";
        builder.Options.ClusterId = "zte-rollout-tests";
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddZteRollout(database);
            silo.Services.Configure<RolloutSiloOptions>(o => o.DataDirectory = dataDirectory);
            silo.Services.AddSingleton(new RolloutClock(clock));
            silo.Services.Configure<SigningOptions>(o => o.OnlineManifestLifetime = TestSigning.OnlineManifestLifetime);
            configureSilo?.Invoke(silo);
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();

        ApiKeyStore.EnsureBootstrapKey(dataDirectory);
        var hosts = new List<WebApplication>();
        var addresses = new List<string>();
        for (var i = 0; i < gateways; i++)
        {
            var web = WebApplication.CreateBuilder(["--urls", "http://127.0.0.1:0"]);
            web.Logging.SetMinimumLevel(LogLevel.Warning);
            web.WebHost.UseZteRolloutEndpoints(web.Configuration, "http://127.0.0.1:0");
            web.Services.AddSingleton<IGrainFactory>(cluster.Client);
            web.Services.AddZteRolloutGateway(web.Configuration, dataDirectory);
            var gateway = web.Build();
            gateway.UseZteRolloutGateway();
            await gateway.StartAsync();
            hosts.Add(gateway);
            addresses.Add(gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        }

        return new RolloutCluster(cluster, hosts, dataDirectory, addresses);
    }

    /// <summary>Stops one gateway abruptly (its open calls fail), as when its process dies.</summary>
    public async Task KillGatewayAsync(int index)
    {
        using var now = new CancellationTokenSource(TimeSpan.Zero);
        try
        {
            await _gateways[index].StopAsync(now.Token);
        }
        catch (OperationCanceledException)
        {
            // An expired token means "do not drain": exactly the abrupt stop wanted here.
        }
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        foreach (var gateway in _gateways)
        {
            await gateway.StopAsync();
            await gateway.DisposeAsync();
        }

        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}
