using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Shared;
using ZteRollout.Silo.Host;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>
/// A real embedded node (silo + gRPC gateway + SQLite file) on free loopback ports, driven by a fake clock,
/// with real gRPC channels to it. Restartable on the same data directory.
/// </summary>
public sealed class EmbeddedNodeHost : IAsyncDisposable, IRolloutEndpoint
{
    private readonly WebApplication _app;

    private EmbeddedNodeHost(WebApplication app, string dataDirectory, string address)
    {
        _app = app;
        DataDirectory = dataDirectory;
        Address = address;
        Channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = 16 * 1024 * 1024 });
        AdminKey = File.ReadAllText(Path.Combine(dataDirectory, "admin-api-key")).Trim();
        Admin = new RolloutAdmin.RolloutAdminClient(Channel);
        Devices = new DeviceUpdate.DeviceUpdateClient(Channel);
    }

    public string DataDirectory { get; }

    public string Address { get; }

    /// <summary>The hawkBit DDI listener (HTTP/1.1), when the node serves one.</summary>
    public string? DdiAddress { get; private init; }

    /// <summary>The operator listener (HTTP/1.1: console, HTTP/JSON API, OpenAPI, metrics), when the node serves one.</summary>
    public string? OperatorAddress { get; private init; }

    public GrpcChannel Channel { get; }

    public string AdminKey { get; }

    public RolloutAdmin.RolloutAdminClient Admin { get; }

    public DeviceUpdate.DeviceUpdateClient Devices { get; }

    public IServiceProvider Services => _app.Services;

    public Metadata AdminHeaders => Bearer(AdminKey);

    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    /// <summary>The command line of a test node: its data directory, free loopback ports for every listener, quiet logs.</summary>
    public static string[] Arguments(string dataDirectory, params string[] extraArgs) =>
        [
            "--data-dir", dataDirectory,
            "--urls", "http://127.0.0.1:0",
            $"--Rollout:Ddi:Url=http://127.0.0.1:{TestPaths.FreePort()}",
            $"--Rollout:Operator:Url=http://127.0.0.1:{TestPaths.FreePort()}",
            $"--Rollout:Silo:SiloPort={TestPaths.FreePort()}",
            $"--Rollout:Silo:GatewayPort={TestPaths.FreePort()}",
            "--Logging:LogLevel:Default=Warning",
            // The node signs on a fake clock fixed in 2026 (or 2000) while agents judge expiry on the wall clock:
            // manifests that outlive any test run keep that from failing a test on some later date.
            $"--Rollout:Signing:OnlineManifestLifetime={TestSigning.OnlineManifestLifetime}",
            .. extraArgs,
        ];

    public static async Task<EmbeddedNodeHost> StartAsync(string dataDirectory, FakeTimeProvider clock, params string[] extraArgs)
    {
        var args = Arguments(dataDirectory, extraArgs);
        var app = await EmbeddedNode.BuildAsync(args, services => services.AddSingleton(new RolloutClock(clock)), TextWriter.Null);
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var ddiPort = ZteRollout.Gateway.Ddi.DdiListener.PortOf(app.Configuration["Rollout:Ddi:Url"]);
        var operatorPort = ZteRollout.Gateway.Operator.OperatorListener.PortOf(app.Configuration["Rollout:Operator:Url"]);
        var address = addresses.First(a => ZteRollout.Gateway.Ddi.DdiListener.PortOf(a) is { } port && port != ddiPort && port != operatorPort);
        var ddiAddress = addresses.FirstOrDefault(a => ZteRollout.Gateway.Ddi.DdiListener.PortOf(a) == ddiPort);
        var operatorAddress = addresses.FirstOrDefault(a => ZteRollout.Gateway.Operator.OperatorListener.PortOf(a) == operatorPort);
        return new EmbeddedNodeHost(app, dataDirectory, address) { DdiAddress = ddiAddress, OperatorAddress = operatorAddress };
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
