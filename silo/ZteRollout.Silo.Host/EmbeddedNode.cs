using System.Net;
using Orleans.Configuration;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Hosting;
using ZteRollout.Shared;
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

    /// <summary>Where hawkBit DDI agents (SWUpdate, rauc-hawkbit-updater) reach the embedded node; <c>Rollout:Ddi:Url</c>.</summary>
    public const string DefaultDdiUrl = "http://127.0.0.1:8080";

    /// <summary>Where operators reach the embedded node's console, HTTP/JSON API and metrics; <c>Rollout:Operator:Url</c>.</summary>
    public const string DefaultOperatorUrl = "http://127.0.0.1:5090";

    /// <summary>README's next step once the orchestrator runs ("Try the whole path"); kept equal by ReadmeCommandsTests.</summary>
    public const string SimulatorCommand = "dotnet run --project tests/ZteRollout.FleetSimulator -- --devices 1000 --fail-rate 0.05";

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

        // Keys, the database and package bytes live here: owner-only (docs/security.md).
        if (SecretFiles.CreateDirectory(dataDirectory) is { } permissionWarning)
        {
            console.WriteLine("warning: " + permissionWarning);
        }

        var database = DatabaseFrom(config, dataDirectory);
        if (role == "silo" && database.Kind != DatabaseKind.PostgreSql)
        {
            throw new InvalidOperationException("The silo role needs Rollout:Database:Kind=postgresql (SQLite has no clustering).");
        }

        await database.PrepareAsync(CancellationToken.None);
        SecretFiles.RemoveOtherAccess(Path.Combine(dataDirectory, "rollout.db"));
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
                ConfigureFailureDetection(silo.Services, config);

                // Silo and gateway ports over TLS with client certificates from the cluster CA (Rollout:Cluster:Tls).
                silo.UseZteRolloutClusterTls(config);
            }

            silo.AddZteRollout(database, builder.Configuration);
            if (GatewayHostingExtensions.TracingEnabled(config))
            {
                silo.AddActivityPropagation();
            }

            if (config.GetValue(Gateway.Operator.OrleansDashboardEndpoints.Setting, false))
            {
                // The dashboard's figures are collected by every silo (a grain call profiler); gateways only show them.
                Orleans.Dashboard.ServiceCollectionExtensions.AddDashboard(silo);
            }
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

        // Shown once, in the start block; the file keeps it for the simulator and the CLI on this machine.
        var newKey = ApiKeyStore.EnsureBootstrapKey(dataDirectory);
        builder.WebHost.UseZteRolloutEndpoints(config, DefaultUrl, DefaultDdiUrl, DefaultOperatorUrl);

        // Reflection is for the person trying the embedded node on loopback; gateways of a cluster serve it only when asked.
        builder.Configuration[$"{ZteRollout.Gateway.GatewayOptions.Section}:{nameof(ZteRollout.Gateway.GatewayOptions.EnableReflection)}"] ??= "true";
        builder.Services.AddZteRolloutGateway(builder.Configuration, dataDirectory);
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseZteRolloutGateway();
        var dataDirectoryChosen = config["data-dir"] is not null || Environment.GetEnvironmentVariable(RolloutDataDirectory.EnvironmentVariable) is { Length: > 0 };
        var ddiPort = Gateway.Ddi.DdiListener.PortOf(config[Gateway.Ddi.DdiOptions.Section + ":Url"]);
        var operatorPort = Gateway.Operator.OperatorListener.PortOf(config[Gateway.Operator.OperatorOptions.Section + ":Url"]);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var ddi = app.Urls.Where(u => Gateway.Ddi.DdiListener.PortOf(u) == ddiPort).ToList();
            var operators = app.Urls.Where(u => Gateway.Operator.OperatorListener.PortOf(u) == operatorPort).ToList();
            console.Write(StartBlock(dataDirectory, database, newKey, [.. app.Urls.Except(ddi).Except(operators)], dataDirectoryChosen, ddi, operators));
        });
        return app;
    }

    /// <summary>
    /// What a person needs after starting the embedded node: where its data is, the admin key (on the first start,
    /// when it was just created), where it listens, and what to run next — the fleet simulator, as README shows it,
    /// with the options it needs when this node is not on the defaults.
    /// </summary>
    private static string StartBlock(string dataDirectory, RolloutDatabase database, string? newAdminKey, IReadOnlyList<string> urls, bool dataDirectoryChosen,
        IReadOnlyList<string> ddiUrls, IReadOnlyList<string> operatorUrls)
    {
        var keyFile = RolloutDataDirectory.AdminKeyFile(dataDirectory);
        var next = SimulatorCommand;
        if (urls.Count > 0 && urls[0] != DefaultUrl)
        {
            next += " --gateway " + urls[0];
        }

        if (dataDirectoryChosen)
        {
            // Another terminal may not have this process's ZTE_DATA_DIR; the simulator then needs the directory named.
            next += " --data-dir " + dataDirectory;
        }

        var text = new System.Text.StringBuilder();
        text.AppendLine("ZteRollout orchestrator ready (embedded: Orleans silo and gRPC gateway in one process)");
        text.AppendLine($"  data       {dataDirectory}{(database.Kind == DatabaseKind.Sqlite ? "" : $" (state in {database.Kind})")}");
        text.AppendLine(newAdminKey is null
            ? $"  admin key  in {keyFile}"
            : $"  admin key  {newAdminKey}  (created now and shown once; kept in {keyFile}, owner-only)");
        text.AppendLine($"  serving    {string.Join(", ", urls)}  (gRPC over HTTP/2; health and reflection)");
        if (ddiUrls.Count > 0)
        {
            text.AppendLine($"  ddi        {string.Join(", ", ddiUrls)}  (hawkBit DDI for SWUpdate and rauc-hawkbit-updater; docs/ddi.md)");
        }

        if (operatorUrls.Count > 0)
        {
            text.AppendLine($"  console    {string.Join(", ", operatorUrls)}  (console, HTTP/JSON API under /api/v1, OpenAPI, /metrics; sign in with an admin key)");
        }

        text.AppendLine($"  next       {next}");
        return text.ToString();
    }

    /// <summary>Where a silo's membership settings are read from (any <see cref="ClusterMembershipOptions"/> property).</summary>
    public const string MembershipSection = "Rollout:Cluster:Membership";

    /// <summary>
    /// Membership of the silo role, tuned so that a silo that dies without warning is declared dead within a few seconds
    /// (Orleans' defaults take about a minute), which bounds how long calls to its grains fail. Probes run about every
    /// second (the effective timeout adapts between half and four times <see cref="ClusterMembershipOptions.ProbeTimeout"/>);
    /// three missed probes, the last one sent through another silo, make a suspicion, and two fresh votes (the prober's
    /// and the intermediary's) declare the death. The price is a higher chance of declaring a live but stalled silo
    /// dead (it then stops, and its grains move): Orleans does not vote against a silo whose connection delivered a
    /// message within the detection window, and extends probe timeouts while the prober itself is degraded.
    /// The trade-off is written down in docs/design.md ("Cluster mode and failures"); every value can be changed under
    /// <see cref="MembershipSection"/>, e.g. <c>--Rollout:Cluster:Membership:ProbeTimeout=00:00:05</c>.
    /// </summary>
    private static void ConfigureFailureDetection(IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<ClusterMembershipOptions>()
            .Configure(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(2);
                o.NumMissedProbesLimit = 3;
                o.NumVotesForDeathDeclaration = 2;
                // Votes older than this do not count: two blips far apart must not add up to a death.
                o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(20);
                // The heartbeat in the table: a silo silent for 3 of these is stale (ignored in vote counts, and a
                // restarted cluster does not wait for it).
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                // Changes are gossiped at once; the table read is the fallback for a lost gossip.
                o.TableRefreshTimeout = TimeSpan.FromSeconds(10);
            })
            .Bind(config.GetSection(MembershipSection));
    }

    /// <summary>Applies the schema scripts to the configured database and returns (the <c>migrate</c> command).</summary>
    public static async Task MigrateAsync(string[] args, TextWriter console)
    {
        var config = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
        var dataDirectory = GatewayHostingExtensions.DataDirectory(config);
        SecretFiles.CreateDirectory(dataDirectory);
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
