using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ZteRollout.Benchmarks.Baseline;

namespace ZteRollout.Benchmarks;

/// <summary>
/// The baseline: a bare Grpc.AspNetCore server (Kestrel, h2c, a free loopback port) in this process, serving one noop
/// unary rpc with no authentication, interceptors or telemetry. What a check-in costs beyond it is the orchestrator's.
/// </summary>
internal sealed class NoopServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private NoopServer(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    public string Address { get; }

    public static async Task<NoopServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<NoopService>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new NoopServer(app, address);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Answers every ping with the same small reply.</summary>
    private sealed class NoopService : Noop.NoopBase
    {
        private static readonly Task<PingResponse> Reply = Task.FromResult(new PingResponse { NextCheckInSeconds = 300 });

        public override Task<PingResponse> Ping(PingRequest request, ServerCallContext context) => Reply;
    }
}
