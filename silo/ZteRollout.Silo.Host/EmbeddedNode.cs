using System.Net;
using Orleans.Configuration;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Hosting;
using ZteRollout.Silo;
using ZteRollout.Silo.Hosting;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Silo.Host;

/// <summary>
/// Composes the orchestrator process in one of its roles:
/// <c>embedded</c> (the default) — an Orleans silo with localhost clustering and the gRPC gateway in one process,
/// state in a SQLite file of the data directory unless a database is configured;
/// <c>silo</c> — one silo of a cluster whose membership, state and reminders are in PostgreSQL; it serves only the
/// gRPC health service (for probes), the gateways are separate processes (gateway/ZteRollout.Gateway.Host).
/// </summary>
public static class EmbeddedNode
{
    public const string DefaultUrl = "http://127.0.0.1:5080";
    public const string DefaultSiloHealthUrl = "http://127.0.0.1:5081";

    /// <summary>Builds the node. <paramref name="configureServices"/> lets tests replace services (e.g. the clock).</summary>
    public static async Task<WebApplication> BuildAsync(string[] args, Action<IServiceCollection>? configureServices = null, TextWriter? console = null)
    {
        console ??= Console.Out;
        // Settings files sit beside the binary, wherever the process is started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        var config = builder.Configuration;
        var role = (config["role"] ?? config["Rollout:Role"] ?? "embedded").ToLowerInvariant();
        if (role is not ("embedded" or "silo"))
        {
            throw new InvalidOperationException($"Role '{role}' is unknown; this process runs 'embedded' or 'silo' (gateways run gateway/ZteRollout.Gateway.Host).");
        }

        var dataDirectory = GatewayHostingExtensions.DataDirectory(config);
        Directory.CreateDirectory(dataDirectory);
        var database = DatabaseFrom(config, dataDirectory);
        if (role == "silo" && database.Kind != DatabaseKind.PostgreSql)
        {
            throw new InvalidOperationException("The silo role needs Rollout:Database:Kind=postgresql (SQLite has no clustering).");
        }

        await database.PrepareAsync(CancellationToken.None);
        builder.Configuration[$"{RolloutSiloOptions.Section}:DataDirectory"] = dataDirectory;
        builder.UseOrleans(silo =>
        {
            var siloPort = config.GetValue("Rollout:Silo:SiloPort", 11111);
            var gatewayPort = config.GetValue("Rollout:Silo:GatewayPort", 30000);
            if (role == "embedded")
            {
                silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: "zte-rollout", clusterId: "zte-rollout-embedded");
            }
            else
            {
                if (config.GetValue("Rollout:Cluster:Kubernetes", false))
                {
                    // Cluster id, service id and the pod's address come from the pod (see deploy/kubernetes).
                    silo.UseKubernetesHosting();
                }
                else
                {
                    silo.Configure<ClusterOptions>(o =>
                    {
                        o.ClusterId = config["Rollout:Cluster:ClusterId"] ?? "zte-rollout";
                        o.ServiceId = config["Rollout:Cluster:ServiceId"] ?? "zte-rollout";
                    });
                    var advertised = config["Rollout:Cluster:AdvertisedAddress"] ?? "127.0.0.1";
                    if (advertised == "auto")
                    {
                        // In a container: advertise this host's address and listen on every interface.
                        silo.ConfigureEndpoints(siloPort, gatewayPort, listenOnAnyHostAddress: true);
                    }
                    else
                    {
                        silo.ConfigureEndpoints(IPAddress.Parse(advertised), siloPort, gatewayPort);
                    }
                }

                silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = DatabaseSchema.InvariantFor(DatabaseKind.PostgreSql);
                    o.ConnectionString = database.ConnectionString;
                });
            }

            silo.AddZteRollout(database, builder.Configuration);
        });
        builder.Services.AddZteRolloutTelemetry($"zte-rollout-{role}");

        if (role == "silo")
        {
            builder.WebHost.UseZteRolloutEndpoints(config, DefaultSiloHealthUrl);
            builder.Services.AddGrpc();
            builder.Services.AddGrpcHealthChecks();
            configureServices?.Invoke(builder.Services);
            var siloApp = builder.Build();
            siloApp.MapGrpcHealthChecksService();
            siloApp.Lifetime.ApplicationStarted.Register(() =>
                console.WriteLine($"ZteRollout silo ready: cluster {config["Rollout:Cluster:ClusterId"] ?? "zte-rollout"}, health on {string.Join(", ", siloApp.Urls)}"));
            return siloApp;
        }

        if (ApiKeyStore.EnsureBootstrapKey(dataDirectory) is { } newKey)
        {
            // Shown once; the file keeps it for the simulator and the CLI on this machine.
            console.WriteLine($"Created the local admin API key (shown once; also in {Path.Combine(dataDirectory, ApiKeyStore.BootstrapFileName)}):");
            console.WriteLine($"  {newKey}");
        }

        builder.WebHost.UseZteRolloutEndpoints(config, DefaultUrl);
        builder.Services.AddZteRolloutGateway(builder.Configuration, dataDirectory);
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseZteRolloutGateway();
        app.Lifetime.ApplicationStarted.Register(() =>
            console.WriteLine($"ZteRollout embedded node ready: data in {dataDirectory}, listening on {string.Join(", ", app.Urls)}"));
        return app;
    }

    /// <summary>Applies the schema scripts to the configured database and returns (the <c>migrate</c> command).</summary>
    public static async Task MigrateAsync(string[] args, TextWriter console)
    {
        var config = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
        var dataDirectory = GatewayHostingExtensions.DataDirectory(config);
        Directory.CreateDirectory(dataDirectory);
        var database = DatabaseFrom(config, dataDirectory);
        await database.PrepareAsync(CancellationToken.None);
        console.WriteLine($"Schema version {DatabaseSchema.Version} applied to the {database.Kind} database.");
    }

    private static RolloutDatabase DatabaseFrom(IConfiguration config, string dataDirectory)
    {
        var kind = config["Rollout:Database:Kind"] ?? "sqlite";
        var connectionString = config["Rollout:Database:ConnectionString"];
        return kind.ToLowerInvariant() switch
        {
            "sqlite" => connectionString is null
                ? RolloutDatabase.SqliteFile(Path.Combine(dataDirectory, "rollout.db"))
                : new RolloutDatabase(DatabaseKind.Sqlite, connectionString),
            "postgresql" => new RolloutDatabase(DatabaseKind.PostgreSql,
                connectionString ?? throw new InvalidOperationException("Rollout:Database:ConnectionString is required for postgresql.")),
            _ => throw new InvalidOperationException($"Rollout:Database:Kind '{kind}' is unknown; use sqlite or postgresql."),
        };
    }
}
