using Orleans.Configuration;
using ZteRollout.Gateway.Hosting;

// A gateway of a cluster: `dotnet run --project gateway/ZteRollout.Gateway.Host -- --data-dir SHARED
//   --Rollout:Database:ConnectionString="Host=...;Database=...;Username=..." --urls https://0.0.0.0:5080
//   --Kestrel:Certificates:Default:Path=CERT.pem --Kestrel:Certificates:Default:KeyPath=KEY.pem [--Rollout:Cluster:Tls:...]`
// (plaintext only with --Rollout:Gateway:AllowPlaintext=true).
// It finds the silos through the ADO.NET gateway list in PostgreSQL; the data directory (admin key file, package
// blobs) must be the one every gateway shares.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
var config = builder.Configuration;
var dataDirectory = GatewayHostingExtensions.DataDirectory(config);
var connectionString = config["Rollout:Database:ConnectionString"]
    ?? throw new InvalidOperationException("Rollout:Database:ConnectionString (PostgreSQL) is required: the gateway finds silos through it.");

// Devices and operators reach a cluster gateway over TLS unless plaintext is asked for (docs/security.md); the
// hawkBit DDI listener defaults to loopback (Rollout:Ddi:Url).
builder.WebHost.UseZteRolloutEndpoints(config, GatewayHostingExtensions.RequireTlsListeners(config), "http://127.0.0.1:8080");
builder.UseOrleansClient(client =>
{
    client.Configure<ClusterOptions>(o =>
    {
        o.ClusterId = config["Rollout:Cluster:ClusterId"] ?? "zte-rollout";
        o.ServiceId = config["Rollout:Cluster:ServiceId"] ?? "zte-rollout";
    });
    client.UseAdoNetClustering(o =>
    {
        o.Invariant = "Npgsql";
        o.ConnectionString = connectionString;
    });

    // To the silos' gateway ports over TLS, presenting this gateway's certificate from the cluster CA (Rollout:Cluster:Tls).
    client.UseZteRolloutClusterTls(config);

    // The gateway list is re-read from the membership table every 5 s (Orleans' default: 1 min), so a silo declared
    // dead stops being used, and a restarted one is used again, within seconds. A connection that fails is dropped
    // at once anyway. Settings: Rollout:Cluster:Client (any Orleans.Configuration.GatewayOptions property).
    client.Services.AddOptions<GatewayOptions>()
        .Configure(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5))
        .Bind(config.GetSection("Rollout:Cluster:Client"));

    // A gateway may start before any silo is up (a supervisor starting the whole cluster at once, or silos still
    // restarting): it keeps trying to join, every 2 s, instead of exiting, and serves once it has.
    client.UseConnectionRetryFilter(async (failure, cancellationToken) =>
    {
        Console.Error.WriteLine($"ZteRollout gateway: no silo answers yet ({failure.GetType().Name}: {failure.Message}); retrying in 2 s");
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        return true;
    });

    // Grain calls carry the request's trace to the silos (which must have it on too: the same settings).
    if (GatewayHostingExtensions.TracingEnabled(config))
    {
        client.AddActivityPropagation();
    }

    // The Orleans Dashboard on the operator listener reads the figures the silos collect (set the setting on them too).
    if (config.GetValue(ZteRollout.Gateway.Operator.OrleansDashboardEndpoints.Setting, false))
    {
        Orleans.Dashboard.ServiceCollectionExtensions.AddDashboard(client);
    }
});
builder.Services.AddZteRolloutGateway(config, dataDirectory);
builder.Services.AddZteRolloutTelemetry("zte-rollout-gateway");

var app = builder.Build();
app.UseZteRolloutGateway();
app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"ZteRollout gateway ready on {string.Join(", ", app.Urls)}"));
await app.RunAsync();
