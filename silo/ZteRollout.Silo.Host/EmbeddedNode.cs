using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Hosting;
using ZteRollout.Silo;
using ZteRollout.Silo.Hosting;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Silo.Host;

/// <summary>
/// Composes the single-process orchestrator: an Orleans silo (localhost clustering) with the gRPC gateway in the
/// same process, state in a SQLite file of the data directory unless a database is configured.
/// </summary>
public static class EmbeddedNode
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    /// <summary>Builds the node. <paramref name="configureServices"/> lets tests replace services (e.g. the clock).</summary>
    public static async Task<WebApplication> BuildAsync(string[] args, Action<IServiceCollection>? configureServices = null, TextWriter? console = null)
    {
        console ??= Console.Out;
        var builder = WebApplication.CreateBuilder(args);
        var config = builder.Configuration;
        var dataDirectory = Path.GetFullPath(config["data-dir"] ?? Environment.GetEnvironmentVariable("ZTE_DATA_DIR") ?? "data");
        Directory.CreateDirectory(dataDirectory);

        if (ApiKeyStore.EnsureBootstrapKey(dataDirectory) is { } newKey)
        {
            // Shown once; the file keeps it for the simulator and the CLI on this machine.
            console.WriteLine($"Created the local admin API key (shown once; also in {Path.Combine(dataDirectory, ApiKeyStore.BootstrapFileName)}):");
            console.WriteLine($"  {newKey}");
        }

        var database = DatabaseFrom(config, dataDirectory);
        await database.PrepareAsync(CancellationToken.None);

        builder.WebHost.UseZteRolloutEndpoints(config, DefaultUrl);

        builder.Configuration[$"{RolloutSiloOptions.Section}:DataDirectory"] = dataDirectory;
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(
                siloPort: config.GetValue("Rollout:Silo:SiloPort", 11111),
                gatewayPort: config.GetValue("Rollout:Silo:GatewayPort", 30000),
                serviceId: "zte-rollout",
                clusterId: "zte-rollout-embedded");
            silo.AddZteRollout(database, builder.Configuration);
        });
        builder.Services.AddZteRolloutGateway(builder.Configuration, dataDirectory);
        builder.Services.AddZteRolloutTelemetry("zte-rollout-embedded");
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseZteRolloutGateway();
        app.Lifetime.ApplicationStarted.Register(() =>
            console.WriteLine($"ZteRollout embedded node ready: data in {dataDirectory}, listening on {string.Join(", ", app.Urls)}"));
        return app;
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
