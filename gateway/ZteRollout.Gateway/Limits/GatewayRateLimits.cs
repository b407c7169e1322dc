using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace ZteRollout.Gateway.Limits;

/// <summary>A token bucket: up to <see cref="TokenLimit"/> calls at once, refilled by <see cref="TokensPerPeriod"/> every <see cref="ReplenishmentPeriod"/>. A limit of 0 turns it off.</summary>
public sealed class TokenBucketSettings
{
    public int TokenLimit { get; set; }

    public int TokensPerPeriod { get; set; }

    public TimeSpan ReplenishmentPeriod { get; set; } = TimeSpan.FromSeconds(1);

    public bool Enabled => TokenLimit > 0 && TokensPerPeriod > 0 && ReplenishmentPeriod > TimeSpan.Zero;

    public TokenBucketRateLimiterOptions ToLimiterOptions() => new()
    {
        TokenLimit = TokenLimit,
        TokensPerPeriod = TokensPerPeriod,
        ReplenishmentPeriod = ReplenishmentPeriod,
        QueueLimit = 0,
        AutoReplenishment = true,
    };
}

/// <summary>
/// Rate limits and quotas of a gateway; bound from <c>Rollout:Gateway:RateLimits</c> (docs/security.md lists them).
/// Exceeding one gives ResourceExhausted with a <c>retry-after</c> trailer in seconds (and <c>grpc-retry-pushback-ms</c>).
/// </summary>
public sealed class GatewayRateLimitOptions
{
    public const string Section = "Rollout:Gateway:RateLimits";

    /// <summary>
    /// Calls per source address, of any kind, checked before anything else (as hawkBit's DoS filter). Default: 400 at
    /// once, 200 a second. Many devices behind one NAT share it: raise it, or list the address in <see cref="ExemptAddresses"/>.
    /// </summary>
    public TokenBucketSettings PerAddress { get; set; } = new() { TokenLimit = 400, TokensPerPeriod = 200 };

    /// <summary>Whether loopback callers (the embedded node's own CLI, simulator and benchmarks) skip the per-address limit.</summary>
    public bool ExemptLoopback { get; set; } = true;

    /// <summary>Addresses that skip the per-address limit (a trusted load balancer, a carrier NAT that is known).</summary>
    public List<string> ExemptAddresses { get; set; } = [];

    /// <summary>
    /// Check-ins and reports per device, counted after its token is checked. Default: 60 at once, 2 a second — an agent
    /// polls every few minutes and reports a few steps per install.
    /// </summary>
    public TokenBucketSettings PerDevice { get; set; } = new() { TokenLimit = 60, TokensPerPeriod = 2 };

    /// <summary>Downloads one device may stream at once (default 2: one, and its reconnection while the old one ends).</summary>
    public int ConcurrentDownloadsPerDevice { get; set; } = 2;

    /// <summary>
    /// Admin calls per API key, after the key is checked. Default: 5,000 at once, 1,000 a second — a script reading
    /// every device of a few thousand at once passes; a leaked key cannot keep a gateway busy on its own.
    /// </summary>
    public TokenBucketSettings PerAdminKey { get; set; } = new() { TokenLimit = 5000, TokensPerPeriod = 1000 };
}

/// <summary>
/// The rate limits, built on ASP.NET Core rate limiting (System.Threading.RateLimiting): per source address and per
/// admin key as middleware; per device inside the device service, where the device is known once its token is checked.
/// </summary>
public sealed class GatewayRateLimits : IDisposable
{
    /// <summary>The hint given when a limiter cannot say when a permit frees up (a concurrency limit).</summary>
    public static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(5);

    // Partition keys of the callers that are not limited; no caller has them (no connection comes from ::).
    private static readonly IPAddress Unlimited = IPAddress.IPv6Any;
    private const string UnlimitedKey = "\0unlimited";

    private readonly PartitionedRateLimiter<string>? _deviceCalls;
    private readonly PartitionedRateLimiter<string>? _deviceDownloads;

    public GatewayRateLimits(IOptions<GatewayRateLimitOptions> options)
    {
        var settings = options.Value;
        if (settings.PerDevice.Enabled)
        {
            var bucket = settings.PerDevice.ToLimiterOptions();
            _deviceCalls = PartitionedRateLimiter.Create<string, string>(
                device => RateLimitPartition.GetTokenBucketLimiter(device, _ => bucket), StringComparer.Ordinal);
        }

        if (settings.ConcurrentDownloadsPerDevice > 0)
        {
            var concurrency = new ConcurrencyLimiterOptions { PermitLimit = settings.ConcurrentDownloadsPerDevice, QueueLimit = 0 };
            _deviceDownloads = PartitionedRateLimiter.Create<string, string>(
                device => RateLimitPartition.GetConcurrencyLimiter(device, _ => concurrency), StringComparer.Ordinal);
        }
    }

    /// <summary>Counts a check-in or report of <paramref name="deviceId"/>; ResourceExhausted over the device's limit.</summary>
    public void RequireDeviceCall(string deviceId)
    {
        if (_deviceCalls is null)
        {
            return;
        }

        using var lease = _deviceCalls.AttemptAcquire(deviceId);
        if (!lease.IsAcquired)
        {
            throw Exhausted($"device '{deviceId}' is over its limit of check-ins and reports", lease);
        }
    }

    /// <summary>A download slot of <paramref name="deviceId"/>, held until disposed; ResourceExhausted when all are in use.</summary>
    public IDisposable AcquireDownload(string deviceId)
    {
        if (_deviceDownloads is null)
        {
            return NoLease.Instance;
        }

        var lease = _deviceDownloads.AttemptAcquire(deviceId);
        if (!lease.IsAcquired)
        {
            lease.Dispose();
            throw Exhausted($"device '{deviceId}' already streams its limit of concurrent downloads", lease);
        }

        return lease;
    }

    public void Dispose()
    {
        _deviceCalls?.Dispose();
        _deviceDownloads?.Dispose();
    }

    /// <summary>The limiter the per-address middleware runs: one token bucket per source address, exempt ones unlimited.</summary>
    public static PartitionedRateLimiter<HttpContext> ByAddress(GatewayRateLimitOptions settings)
    {
        var exempt = settings.ExemptAddresses.Select(IPAddress.Parse).ToHashSet();
        var bucket = settings.PerAddress.ToLimiterOptions();
        var enabled = settings.PerAddress.Enabled;
        return PartitionedRateLimiter.Create<HttpContext, IPAddress>(context =>
        {
            var address = context.Connection.RemoteIpAddress ?? IPAddress.None;
            if (address.IsIPv4MappedToIPv6)
            {
                address = address.MapToIPv4();
            }

            return !enabled || (settings.ExemptLoopback && IPAddress.IsLoopback(address)) || exempt.Contains(address)
                ? RateLimitPartition.GetNoLimiter(Unlimited)
                : RateLimitPartition.GetTokenBucketLimiter(address, _ => bucket);
        });
    }

    /// <summary>The limiter the per-admin-key middleware runs (after authentication): one token bucket per key name.</summary>
    public static PartitionedRateLimiter<HttpContext> ByAdminKey(GatewayRateLimitOptions settings)
    {
        var bucket = settings.PerAdminKey.ToLimiterOptions();
        var enabled = settings.PerAdminKey.Enabled;
        return PartitionedRateLimiter.Create<HttpContext, string>(context =>
            enabled && context.User.Identity is { IsAuthenticated: true, Name: { } key }
                ? RateLimitPartition.GetTokenBucketLimiter(key, _ => bucket)
                : RateLimitPartition.GetNoLimiter(UnlimitedKey));
    }

    /// <summary>
    /// The middleware's refusal as a gRPC status: a trailers-only response (HTTP 200, the status in the headers, which
    /// a trailers-only response's client reads as trailers) with ResourceExhausted and the retry-after hint. An HTTP
    /// caller (the operator listener's JSON API, console, metrics; DDI agents) gets what JSON transcoding answers for
    /// ResourceExhausted instead: 429, <c>Retry-After</c>, and the status as a JSON body.
    /// </summary>
    public static async ValueTask WriteRejection(OnRejectedContext rejected, string what)
    {
        var response = rejected.HttpContext.Response;
        var retryAfter = RetryAfter(rejected.Lease);
        var message = $"too many calls {what}; retry after {Seconds(retryAfter)} s";
        if (!(rejected.HttpContext.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) ?? false))
        {
            response.StatusCode = StatusCodes.Status429TooManyRequests;
            response.Headers.RetryAfter = Seconds(retryAfter);
            await response.WriteAsJsonAsync(new HttpRejection((int)StatusCode.ResourceExhausted, message), rejected.HttpContext.RequestAborted);
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)StatusCode.ResourceExhausted).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(message);
        response.Headers.RetryAfter = Seconds(retryAfter);
        response.Headers["grpc-retry-pushback-ms"] = ((long)retryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The body JSON transcoding writes for a gRPC status (google.rpc.Status), for a refusal made before transcoding runs.</summary>
    private sealed record HttpRejection(
        [property: System.Text.Json.Serialization.JsonPropertyName("code")] int Code,
        [property: System.Text.Json.Serialization.JsonPropertyName("message")] string Message)
    {
        [System.Text.Json.Serialization.JsonPropertyName("details")]
        public object[] Details { get; } = [];
    }

    private static RpcException Exhausted(string message, RateLimitLease lease)
    {
        var retryAfter = RetryAfter(lease);
        return new RpcException(new Status(StatusCode.ResourceExhausted, $"{message}; retry after {Seconds(retryAfter)} s"), new Metadata
        {
            { "retry-after", Seconds(retryAfter) },
            { "grpc-retry-pushback-ms", ((long)retryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) },
        });
    }

    private static TimeSpan RetryAfter(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var after) && after > TimeSpan.Zero ? after : DefaultRetryAfter;

    private static string Seconds(TimeSpan after) => ((long)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private sealed class NoLease : IDisposable
    {
        public static readonly NoLease Instance = new();

        public void Dispose()
        {
        }
    }
}

/// <summary>Wiring of the rate limits into the request pipeline.</summary>
public static class GatewayRateLimitExtensions
{
    /// <summary>
    /// Per source address, on every call, before authentication: runs first in the pipeline, so a flood of calls
    /// without credentials is cut before a token is parsed or an admin key hashed.
    /// </summary>
    public static IApplicationBuilder UseZteRolloutAddressRateLimit(this IApplicationBuilder app, GatewayRateLimitOptions settings) =>
        app.UseRateLimiter(new RateLimiterOptions
        {
            GlobalLimiter = GatewayRateLimits.ByAddress(settings),
            OnRejected = (rejected, _) => GatewayRateLimits.WriteRejection(rejected, "from this address"),
        });

    /// <summary>Per admin key, after authentication and authorization (the key is known by then).</summary>
    public static IApplicationBuilder UseZteRolloutAdminKeyRateLimit(this IApplicationBuilder app, GatewayRateLimitOptions settings) =>
        app.UseRateLimiter(new RateLimiterOptions
        {
            GlobalLimiter = GatewayRateLimits.ByAdminKey(settings),
            OnRejected = (rejected, _) => GatewayRateLimits.WriteRejection(rejected, "with this admin key"),
        });
}
