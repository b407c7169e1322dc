using System.Buffers;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ZteRollout.Gateway.Blobs;

namespace ZteRollout.Benchmarks;

/// <summary>
/// The download baseline: a bare Kestrel (HTTP/2 cleartext, a free loopback port) in this process that answers
/// <c>GET /package</c> with one blob, with no authentication, gRPC or telemetry. What a gRPC download costs beyond it
/// is the orchestrator's.
/// </summary>
/// <remarks>
/// It copies the file itself in writes of a given size rather than calling <c>SendFileAsync</c>: Kestrel has no
/// zero-copy send for HTTP/2, and ASP.NET Core's fallback copies in 16 KiB writes, each flushed, which would make the
/// baseline slower than the same server writing the gateway's chunk size.
/// </remarks>
internal sealed class FileServer : IAsyncDisposable
{
    public const string PackagePath = "/package";

    private readonly WebApplication _app;

    private FileServer(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    public string Address { get; }

    public static async Task<FileServer> StartAsync(BlobStore blobs, string sha256, long length, int writeBytes)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGet(PackagePath, async context =>
        {
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = length;
            await using var file = blobs.OpenRead(sha256, offset: 0);
            var buffer = ArrayPool<byte>.Shared.Rent(writeBytes);
            try
            {
                int read;
                while ((read = await file.ReadAtLeastAsync(buffer.AsMemory(0, writeBytes), writeBytes, throwOnEndOfStream: false, context.RequestAborted)) > 0)
                {
                    await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new FileServer(app, address);
    }

    /// <summary>
    /// A client that speaks HTTP/2 cleartext with prior knowledge (no upgrade), one connection per client, as a device
    /// would hold its own.
    /// </summary>
    public HttpClient OpenClient() => new(new SocketsHttpHandler { PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan })
    {
        BaseAddress = new Uri(Address),
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
