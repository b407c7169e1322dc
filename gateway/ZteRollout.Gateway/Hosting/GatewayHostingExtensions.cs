using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Blobs;
using ZteRollout.Gateway.Ddi;
using ZteRollout.Gateway.Errors;
using ZteRollout.Gateway.Limits;
using ZteRollout.Gateway.Operator;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared;
using ZteRollout.Shared.Telemetry;

namespace ZteRollout.Gateway.Hosting;

public static class GatewayHostingExtensions
{
    /// <summary>The data directory of a server process, resolved as every ZteRollout process resolves it (<see cref="RolloutDataDirectory"/>).</summary>
    public static string DataDirectory(IConfiguration configuration) =>
        RolloutDataDirectory.Resolve(configuration["data-dir"], Environment.GetEnvironmentVariable);

    /// <summary>
    /// Registers the gRPC services, authentication, authorization and the blob store. The Orleans side (a co-hosted
    /// silo or an Orleans client) is the host's choice: the services only need an <see cref="IGrainFactory"/>.
    /// </summary>
    public static IServiceCollection AddZteRolloutGateway(this IServiceCollection services, IConfiguration configuration, string dataDirectory)
    {
        services.AddOptions<GatewayOptions>()
            .Bind(configuration.GetSection(GatewayOptions.Section))
            .Configure(o => o.DataDirectory = dataDirectory)
            .Validate(o => o.MaxPackageBytes > 0, "Rollout:Gateway:MaxPackageBytes must be positive")
            .Validate(o => o.DownloadChunkBytes is >= 16 * 1024 and <= 1024 * 1024, "Rollout:Gateway:DownloadChunkBytes must be 16 KiB to 1 MiB")
            .Validate(o => o.MaxDeviceMessageBytes is >= 1024 and <= 16 * 1024 * 1024, "Rollout:Gateway:MaxDeviceMessageBytes must be 1 KiB to 16 MiB")
            .Validate(o => o.MaxAdminMessageBytes >= 64 * 1024, "Rollout:Gateway:MaxAdminMessageBytes must be at least 64 KiB")
            .Validate(o => o.MaxAuthorizationHeaderChars >= DeviceTokenMac.MaxTokenChars + 7, $"Rollout:Gateway:MaxAuthorizationHeaderChars must hold a device token ({DeviceTokenMac.MaxTokenChars + 7} characters)")
            .ValidateOnStart();
        services.AddOptions<GatewayRateLimitOptions>().Bind(configuration.GetSection(GatewayRateLimitOptions.Section));
        // Silos send storage failures as the driver's exception; the gateway must be able to read them to answer Unavailable.
        services.Configure<Orleans.Serialization.ExceptionSerializationOptions>(o => { o.SupportedNamespacePrefixes.Add("Npgsql"); o.SupportedNamespacePrefixes.Add("Polly"); });
        services.AddSingleton<BlobStore>();
        services.AddSingleton<ApiKeyStore>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DeviceTokenMac>();
        services.AddSingleton<DeviceAuthenticator>();
        services.AddSingleton<DeviceClientCertificates>();
        services.AddSingleton<GatewayRateLimits>();
        services.AddRateLimiter(_ => { });
        services.AddOptions<DeviceCallRetryOptions>().Bind(configuration.GetSection(DeviceCallRetryOptions.Section));
        services.AddSingleton<DeviceCallRetry>();
        services.AddOptions<DdiOptions>().Bind(configuration.GetSection(DdiOptions.Section))
            .Validate(o => DdiListener.PortOf(o.Url) is not 0, "Rollout:Ddi:Url needs a fixed port (the listener is told apart by it)")
            .Validate(o => o.MaxBodyBytes > 0, "Rollout:Ddi:MaxBodyBytes must be positive")
            .ValidateOnStart();
        services.AddSingleton<DdiArtifacts>();
        services.AddSingleton<DdiGatewayTokens>();
        services.AddSingleton<DdiService>();

        // Stateless, so one instance each: gRPC would otherwise construct both for every call.
        services.AddSingleton<ErrorMappingInterceptor>();
        services.AddSingleton<DeviceUpdateService>();
        var gateway = configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();

        // A device message is read before its token is checked, so it is small; a bigger one gets ResourceExhausted
        // unread. Admin calls are authenticated before their body is read; uploads come in chunks well under their bound.
        var grpc = services.AddGrpc(o => o.MaxReceiveMessageSize = gateway.MaxDeviceMessageBytes);
        // The admin service maps errors with the interceptor; the device service maps its own (one fewer async layer
        // on the check-in path) with the same ErrorMappingInterceptor.Map.
        services.AddGrpc().AddServiceOptions<RolloutAdminService>(o =>
        {
            o.Interceptors.Add<ErrorMappingInterceptor>();
            o.MaxReceiveMessageSize = gateway.MaxAdminMessageBytes;
        });
        services.AddGrpcReflection();
        services.AddOptions<OperatorOptions>().Bind(configuration.GetSection(OperatorOptions.Section))
            .Validate(o => OperatorListener.PortOf(o.Url) is not 0, "Rollout:Operator:Url needs a fixed port (the listener is told apart by it)")
            .ValidateOnStart();
        if (OperatorListener.PortOf(configuration[OperatorOptions.Section + ":Url"]) is not null)
        {
            AddOperatorListener(services, grpc, dataDirectory);
            if (configuration.GetValue(OrleansDashboardEndpoints.Setting, false))
            {
                services.AddZteRolloutOrleansDashboardAccess();
            }
        }

        services.AddGrpcHealthChecks().AddCheck("orleans", () => Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy());

        // A single registered scheme would otherwise become the default, and the authentication middleware (which
        // WebApplication adds by itself) would run the API-key check on every device call too. Admin policies name
        // their scheme. ASP.NET Core reads this switch when it builds the authentication options.
        AppContext.SetSwitch("Microsoft.AspNetCore.Authentication.SuppressAutoDefaultScheme", true);
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(RolloutAuth.ApiKeyScheme, null);
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, GrpcAuthorizationResultHandler>();
        services.AddAuthorizationBuilder()
            .AddPolicy(RolloutAuth.Policies.Viewer, p => p.AddAuthenticationSchemes(RolloutAuth.ApiKeyScheme).RequireRole(RolloutAuth.Roles.All))
            .AddPolicy(RolloutAuth.Policies.ReleaseManager, p => p.AddAuthenticationSchemes(RolloutAuth.ApiKeyScheme).RequireRole(RolloutAuth.Roles.ReleaseManager, RolloutAuth.Roles.Admin))
            .AddPolicy(RolloutAuth.Policies.Sre, p => p.AddAuthenticationSchemes(RolloutAuth.ApiKeyScheme).RequireRole(RolloutAuth.Roles.Sre, RolloutAuth.Roles.Admin))
            .AddPolicy(RolloutAuth.Policies.ReleaseManagerOrSre, p => p.AddAuthenticationSchemes(RolloutAuth.ApiKeyScheme)
                .RequireRole(RolloutAuth.Roles.ReleaseManager, RolloutAuth.Roles.Sre, RolloutAuth.Roles.Admin))
            .AddPolicy(RolloutAuth.Policies.Admin, p => p.AddAuthenticationSchemes(RolloutAuth.ApiKeyScheme).RequireRole(RolloutAuth.Roles.Admin));
        return services;
    }

    /// <summary>
    /// What the operator listener serves: the console (<see cref="ConsoleEndpoints"/>), the admin API as HTTP/JSON (gRPC JSON transcoding of the
    /// <c>google.api.http</c> routes in rollout_admin.proto, same service, same interceptor, same policies), its
    /// OpenAPI document, and the rollout meter on a Prometheus scrape endpoint.
    /// </summary>
    private static void AddOperatorListener(IServiceCollection services, Grpc.AspNetCore.Server.IGrpcServerBuilder grpc, string dataDirectory)
    {
        // The console's cookie is encrypted with keys every gateway of the node or cluster reads from the data directory.
        services.AddDataProtection()
            .SetApplicationName("ZteRollout")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDirectory, "console-keys")));
        services.AddSingleton<ConsoleSession>();
        // Field violations travel as google.rpc.BadRequest in the status details; JSON needs to know the type to write them.
        grpc.AddJsonTranscoding(o => o.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromMessages(Google.Rpc.BadRequest.Descriptor));
        services.AddGrpcSwagger();
        services.AddSwaggerGen(o => o.SwaggerDoc(OperatorEndpoints.OpenApiDocument, new Microsoft.OpenApi.Models.OpenApiInfo
        {
            Title = "ZteRollout admin API",
            Version = OperatorEndpoints.OpenApiDocument,
            Description = "The gRPC admin API (zte.rollout.admin.v1.RolloutAdmin) over HTTP/JSON. Every call needs 'Authorization: Bearer <admin API key>'.",
        }));
        services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(RolloutMetrics.MeterName)
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
    }

    /// <summary>Turns on trace propagation through grain calls without an OTLP exporter (for an in-process or dotnet-monitor listener).</summary>
    public const string TracingSetting = "Rollout:Telemetry:Tracing";

    /// <summary>
    /// Whether grain calls carry the caller's trace (Orleans' activity propagation: <c>AddActivityPropagation</c> on the
    /// silo and the client): when traces are exported over OTLP, or <see cref="TracingSetting"/> is true. Off otherwise,
    /// as its call filters run on every grain call.
    /// </summary>
    public static bool TracingEnabled(IConfiguration configuration) =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")) || configuration.GetValue(TracingSetting, false);

    /// <summary>
    /// Traces and metrics for the gateway and Orleans, exported over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// Without an exporter nothing is collected: instrumentation on the check-in path costs throughput for nobody.
    /// A trace runs gateway request → Orleans grain call (client, then silo) → <see cref="RolloutTracing"/> storage write.
    /// </summary>
    public static IServiceCollection AddZteRolloutTelemetry(this IServiceCollection services, string serviceName)
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")))
        {
            return services;
        }

        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithTracing(t => t.AddAspNetCoreInstrumentation().AddSource(RolloutTracing.OrleansSources).AddSource(RolloutTracing.SourceName).AddOtlpExporter())
            .WithMetrics(m => m.AddAspNetCoreInstrumentation().AddRuntimeInstrumentation().AddMeter("Microsoft.Orleans", RolloutMetrics.MeterName).AddOtlpExporter());
        return services;
    }

    /// <summary>
    /// Kestrel for gRPC: HTTP/2 on every endpoint (h2c without TLS, where no protocol negotiation exists), and the
    /// default address when none is configured; plus the hawkBit DDI listener (HTTP/1.1, for curl-based agents) at
    /// <c>Rollout:Ddi:Url</c>, <paramref name="defaultDdiUrl"/> when unset, none when empty. With <c>Kestrel:Endpoints</c>
    /// configured, the DDI endpoint is declared there too (Protocols: Http1) and named by <c>Rollout:Ddi:Url</c>.
    /// The operator listener (HTTP/JSON API, console, metrics; HTTP/1.1) is added the same way from
    /// <c>Rollout:Operator:Url</c>, <paramref name="defaultOperatorUrl"/> when unset.
    /// </summary>
    public static void UseZteRolloutEndpoints(this Microsoft.AspNetCore.Hosting.IWebHostBuilder webHost, IConfiguration configuration, string defaultUrl, string? defaultDdiUrl = null,
        string? defaultOperatorUrl = null)
    {
        var ddiUrl = configuration[DdiOptions.Section + ":Url"] ?? defaultDdiUrl;
        configuration[DdiOptions.Section + ":Url"] = ddiUrl ?? string.Empty;
        var ddiPort = DdiListener.PortOf(ddiUrl);
        var operatorUrl = configuration[OperatorOptions.Section + ":Url"] ?? defaultOperatorUrl;
        configuration[OperatorOptions.Section + ":Url"] = operatorUrl ?? string.Empty;
        var operatorPort = OperatorListener.PortOf(operatorUrl);
        if (configuration["Kestrel:Endpoints"] is null && !configuration.GetSection("Kestrel:Endpoints").GetChildren().Any())
        {
            var urls = configuration["urls"] ?? Environment.GetEnvironmentVariable("ASPNETCORE_URLS") ?? defaultUrl;
            urls += ddiPort is null ? "" : ";" + ddiUrl;
            urls += operatorPort is null ? "" : ";" + operatorUrl;
            Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseUrls(webHost, urls);
        }

        // Headers are read before anything else: a caller sending huge ones is cut by Kestrel, before authentication.
        var maxHeaderBytes = configuration.GetValue($"{GatewayOptions.Section}:{nameof(GatewayOptions.MaxRequestHeaderBytes)}", new GatewayOptions().MaxRequestHeaderBytes);
        Microsoft.AspNetCore.Hosting.WebHostBuilderKestrelExtensions.ConfigureKestrel(webHost, k =>
        {
            k.ConfigureEndpointDefaults(l => l.Protocols = l.IPEndPoint?.Port is { } port && (port == ddiPort || port == operatorPort)
                ? Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1
                : Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
            k.Limits.MaxRequestHeadersTotalSize = maxHeaderBytes;
            k.Limits.Http2.MaxRequestHeaderFieldSize = maxHeaderBytes;
            if (configuration[$"{GatewayOptions.Section}:{nameof(GatewayOptions.DeviceClientCaPath)}"] is { Length: > 0 } deviceCaPath)
            {
                k.ConfigureHttpsDefaults(https => DeviceClientCertificates.RequestFromDevices(https, deviceCaPath));
            }
        });
    }

    /// <summary>Set to serve devices and operators without TLS in cluster mode (behind a TLS-terminating load balancer, or on loopback).</summary>
    public const string AllowPlaintextSetting = "Rollout:Gateway:AllowPlaintext";

    /// <summary>
    /// A cluster gateway faces the internet: it serves TLS unless plaintext is asked for explicitly. Throws, naming the
    /// settings, when a listen address is plain http and <see cref="AllowPlaintextSetting"/> is not set; returns the
    /// default address to use (https when a default certificate is configured).
    /// </summary>
    public static string RequireTlsListeners(IConfiguration configuration)
    {
        var certificate = configuration["Kestrel:Certificates:Default:Path"];
        var defaultUrl = certificate is null ? "http://127.0.0.1:5080" : "https://127.0.0.1:5080";
        var urls = (configuration["urls"] ?? Environment.GetEnvironmentVariable("ASPNETCORE_URLS"))?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            ?? configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>().DefaultIfEmpty(defaultUrl).ToArray();
        var plain = urls.Where(u => u.StartsWith("http://", StringComparison.OrdinalIgnoreCase)).ToList();
        if (plain.Count > 0 && !configuration.GetValue(AllowPlaintextSetting, false))
        {
            throw new InvalidOperationException(
                $"A cluster gateway serves devices and operators over TLS: {string.Join(", ", plain)} is plaintext. Listen on https " +
                "(--urls https://0.0.0.0:5080 with --Kestrel:Certificates:Default:Path=CERT.pem --Kestrel:Certificates:Default:KeyPath=KEY.pem), " +
                $"or set --{AllowPlaintextSetting}=true (TLS terminated in front of the gateway, or loopback only).");
        }

        return defaultUrl;
    }

    /// <summary>The request pipeline: device calls straight to their endpoint; everything else through authentication and authorization.</summary>
    /// <remarks>
    /// Device calls authenticate in the device service (<see cref="DeviceAuthenticator"/>) and have no ASP.NET Core
    /// policy, so running the two middlewares for them would only cost time on the hottest path: a measurable share
    /// of a check-in (docs/benchmarks.md). Routing has already chosen the endpoint when the branch runs.
    /// </remarks>
    public static WebApplication UseZteRolloutGateway(this WebApplication app)
    {
        // Per source address first, before any credential is looked at; per admin key once the key is known; per
        // device in the device service (GatewayRateLimits).
        var limits = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GatewayRateLimitOptions>>().Value;
        app.UseZteRolloutAddressRateLimit(limits);
        app.UseZteRolloutOperatorPort(OperatorListener.PortOf(app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<OperatorOptions>>().Value.Url));
        app.MapWhen(IsDeviceCall, device => device.Run(context => context.GetEndpoint()?.RequestDelegate?.Invoke(context) ?? Task.CompletedTask));
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseZteRolloutAdminKeyRateLimit(limits);
        app.MapZteRolloutGateway();
        app.Services.GetRequiredService<BlobStore>().DeleteAbandonedUploads();
        return app;
    }

    private static bool IsDeviceCall(HttpContext context) =>
        context.GetEndpoint()?.Metadata is { } metadata
        && (metadata.GetMetadata<Grpc.AspNetCore.Server.GrpcMethodMetadata>()?.ServiceType == typeof(DeviceUpdateService)
            || metadata.GetMetadata<DdiEndpointMetadata>() is not null);

    public static IEndpointRouteBuilder MapZteRolloutGateway(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<DeviceUpdateService>();
        endpoints.MapGrpcService<RolloutAdminService>();
        endpoints.MapGrpcHealthChecksService();
        if (endpoints.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<GatewayOptions>>().Value.EnableReflection == true)
        {
            // A map of every rpc helps an attacker as much as an operator: served by the embedded node (loopback by
            // default), elsewhere only when Rollout:Gateway:EnableReflection is set.
            endpoints.MapGrpcReflectionService();
        }

        if (DdiListener.PortOf(endpoints.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<DdiOptions>>().Value.Url) is not null)
        {
            endpoints.MapZteRolloutDdi();
        }

        if (OperatorListener.PortOf(endpoints.ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<OperatorOptions>>().Value.Url) is not null)
        {
            endpoints.MapZteRolloutOperator();
        }

        return endpoints;
    }
}
