using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Orleans.Configuration;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Cluster;

/// <summary>A silo's row in the Orleans membership table.</summary>
public sealed record MembershipRow(int Port, int Generation, int Status, DateTime IAmAliveTime)
{
    public const int Active = 3;
    public const int Dead = 6;
}

/// <summary>
/// A ZteRollout cluster of real processes, started the way deploy/local-cluster.sh starts one: a throwaway PostgreSQL
/// server (<see cref="PostgresServer"/>), the schema through the silo's <c>migrate</c> command, N processes
/// <c>zte-rollout-server.dll --role silo</c> and M processes <c>zte-rollout-gateway.dll</c> on free loopback ports,
/// sharing one data directory (admin key file, signing key, package blobs). Any process can be killed with SIGKILL
/// and restarted with the same arguments. Clients reach the gateways through one channel that balances round robin
/// over all of them, as devices behind a load balancer would. Set ZTE_KEEP_CLUSTER_LOGS=1 to keep the processes' logs.
/// </summary>
public sealed class LocalClusterProcesses : IRolloutEndpoint, IAsyncDisposable
{
    public const string ClusterId = "zte-rpf";
    public const string ServiceId = "zte-rollout-rpf";
    public const string ServerAssembly = "zte-rollout-server.dll";
    public const string GatewayAssembly = "zte-rollout-gateway.dll";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private readonly PostgresServer _postgres;
    private readonly string _work;

    private LocalClusterProcesses(PostgresServer postgres, string work, string connectionString, string adminKey, List<ClusterProcess> silos, List<ClusterProcess> gateways)
    {
        _postgres = postgres;
        _work = work;
        ConnectionString = connectionString;
        AdminKey = adminKey;
        Silos = silos;
        Gateways = gateways;
        Channel = RoundRobin(gateways.Select(g => g.Port));
        Admin = new RolloutAdmin.RolloutAdminClient(Channel);
        Devices = new DeviceUpdate.DeviceUpdateClient(Channel);
    }

    public IReadOnlyList<ClusterProcess> Silos { get; }

    public IReadOnlyList<ClusterProcess> Gateways { get; }

    public IEnumerable<ClusterProcess> All => Silos.Concat(Gateways);

    public string ConnectionString { get; }

    public string AdminKey { get; }

    public string DataDirectory => Path.Combine(_work, "data");

    public string LogDirectory => Path.Combine(_work, "logs");

    /// <summary>Round robin over every gateway; a gateway that does not answer is skipped until it does again.</summary>
    public GrpcChannel Channel { get; }

    public RolloutAdmin.RolloutAdminClient Admin { get; }

    public DeviceUpdate.DeviceUpdateClient Devices { get; }

    public Metadata AdminHeaders => EmbeddedNodeHost.Bearer(AdminKey);

    /// <summary>Starts PostgreSQL, applies the schema, starts the silos and gateways, and returns once all of them serve.</summary>
    public static async Task<LocalClusterProcesses> StartAsync(int silos, int gateways, Action<string> log)
    {
        var (server, gateway) = (FindAssembly("silo/ZteRollout.Silo.Host", ServerAssembly), FindAssembly("gateway/ZteRollout.Gateway.Host", GatewayAssembly));
        var work = TestPaths.NewTempDirectory("cluster");
        var data = Path.Combine(work, "data");
        var logs = Path.Combine(work, "logs");
        Directory.CreateDirectory(data);
        Directory.CreateDirectory(logs);
        var clock = Stopwatch.StartNew();
        var postgres = await PostgresServer.StartAsync();
        LocalClusterProcesses? cluster = null;
        try
        {
            var connectionString = await postgres.CreateDatabaseAsync("zte_rollout");
            string[] database = ["--Rollout:Database:Kind=postgresql", $"--Rollout:Database:ConnectionString={connectionString}",
                $"--Rollout:Cluster:ClusterId={ClusterId}", $"--Rollout:Cluster:ServiceId={ServiceId}", "--data-dir", data];
            await MigrateAsync(server, database, Path.Combine(logs, "migrate.log"));

            // The admin key every gateway accepts, as deploy/local-cluster.sh writes it.
            var adminKey = "zak1_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            await File.WriteAllTextAsync(Path.Combine(data, "admin-api-key"), adminKey + "\n");

            var siloProcesses = Enumerable.Range(1, silos).Select(i =>
            {
                var (siloPort, gatewayPort, healthPort) = (TestPaths.FreePort(), TestPaths.FreePort(), TestPaths.FreePort());
                var address = $"http://127.0.0.1:{healthPort}";
                return new ClusterProcess($"silo-{i}", ClusterRole.Silo, server,
                    ["--role", "silo", .. database, "--urls", address, $"--Rollout:Silo:SiloPort={siloPort}", $"--Rollout:Silo:GatewayPort={gatewayPort}",
                        "--Logging:LogLevel:Orleans.Runtime.MembershipService=Information", "--Logging:LogLevel:Orleans.Runtime.GrainDirectory=Information"],
                    Path.Combine(logs, $"silo-{i}.log"), siloPort, address);
            }).ToList();
            var gatewayProcesses = Enumerable.Range(1, gateways).Select(j =>
            {
                var port = TestPaths.FreePort();
                var address = $"http://127.0.0.1:{port}";
                // Each gateway also serves hawkBit DDI, on a port of its own (the host's default, 8080, is one port).
                return new ClusterProcess($"gateway-{j}", ClusterRole.Gateway, gateway,
                    [.. database, "--urls", address, "--Rollout:Gateway:AllowPlaintext=true", $"--Rollout:Ddi:Url=http://127.0.0.1:{TestPaths.FreePort()}"],
                    Path.Combine(logs, $"gateway-{j}.log"), port, address);
            }).ToList();

            cluster = new LocalClusterProcesses(postgres, work, connectionString, adminKey, siloProcesses, gatewayProcesses);
            await cluster.StartAllAsync();
            log($"{clock.Elapsed.TotalSeconds:0.0} s: PostgreSQL on port {postgres.Port}, {silos} silos and {gateways} gateways serving; logs in {logs}");
            return cluster;
        }
        catch
        {
            if (cluster is not null)
            {
                await cluster.DisposeAsync();
            }
            else
            {
                await postgres.DisposeAsync();
                TestPaths.TryDelete(work);
            }

            throw;
        }
    }

    /// <summary>
    /// Starts every process that is not running, all at once as a supervisor would (a gateway keeps trying to join
    /// until a silo answers), and returns once every silo is active in the membership table and every gateway answers.
    /// </summary>
    public async Task StartAllAsync(Action? silosActive = null)
    {
        var starting = Silos.Where(s => !s.IsRunning).ToList();
        var before = await MembershipAsync();
        foreach (var process in starting.Concat(Gateways.Where(g => !g.IsRunning)))
        {
            process.Start();
        }

        await Task.WhenAll(starting.Select(s => WaitUntilActiveAsync(s, NewestGeneration(before, s))));
        silosActive?.Invoke();
        await Task.WhenAll(Gateways.Select(WaitUntilAnsweringAsync));
    }

    /// <summary>Restarts one process with its own arguments (same ports) and waits until it serves.</summary>
    public async Task RestartAsync(ClusterProcess process)
    {
        var before = await MembershipAsync();
        process.Start();
        await (process.Role == ClusterRole.Silo ? WaitUntilActiveAsync(process, NewestGeneration(before, process)) : WaitUntilAnsweringAsync(process));
    }

    private static int NewestGeneration(List<MembershipRow> rows, ClusterProcess silo) =>
        rows.Where(r => r.Port == silo.Port).Select(r => r.Generation).DefaultIfEmpty(int.MinValue).Max();

    /// <summary>The membership table's rows of this cluster.</summary>
    public async Task<List<MembershipRow>> MembershipAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT Port, Generation, Status, IAmAliveTime FROM OrleansMembershipTable WHERE DeploymentId = @cluster", connection);
        command.Parameters.AddWithValue("cluster", ClusterId);
        var rows = new List<MembershipRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new MembershipRow(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetDateTime(3)));
        }

        return rows;
    }

    /// <summary>The newest row of a silo (its current or last generation).</summary>
    public async Task<MembershipRow?> RowOfAsync(ClusterProcess silo) =>
        (await MembershipAsync()).Where(r => r.Port == silo.Port).MaxBy(r => r.Generation);

    /// <summary>
    /// Waits until the cluster has declared <paramref name="generation"/> of the silo dead and returns how long after
    /// <paramref name="since"/> that was seen (the table is polled every 50 ms).
    /// </summary>
    public async Task<TimeSpan> WaitUntilDeclaredDeadAsync(ClusterProcess silo, int generation, Stopwatch since, TimeSpan timeout)
    {
        while (true)
        {
            var row = (await MembershipAsync()).SingleOrDefault(r => r.Port == silo.Port && r.Generation == generation);
            if (row is { Status: MembershipRow.Dead })
            {
                return since.Elapsed;
            }

            if (since.Elapsed > timeout)
            {
                throw new TimeoutException($"{silo.Name} (generation {generation}) was not declared dead within {timeout}; its row: {row}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }

    /// <summary>A campaign's ledger as stored: each device's latest outcome (the DeviceOutcome number).</summary>
    public async Task<Dictionary<string, int>> LedgerAsync(string campaignId)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT DeviceId, Outcome FROM ZteCampaignDevice WHERE CampaignId = @campaign", connection);
        command.Parameters.AddWithValue("campaign", campaignId);
        var ledger = new Dictionary<string, int>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ledger[reader.GetString(0)] = reader.GetInt32(1);
        }

        return ledger;
    }

    /// <summary>
    /// The silo hosting each grain, asked of the cluster's management grain through an Orleans client of this test
    /// (null where the grain is not active).
    /// </summary>
    public async Task<ClusterProcess?[]> SilosHostingAsync(params Func<IGrainFactory, IAddressable>[] grains)
    {
        using var host = new HostBuilder()
            .UseOrleansClient(client =>
            {
                client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (ClusterId, ServiceId));
                client.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = ("Npgsql", ConnectionString));
            })
            .Build();
        await host.StartAsync();
        try
        {
            var client = host.Services.GetRequiredService<IClusterClient>();
            var management = client.GetGrain<IManagementGrain>(0);
            var found = new ClusterProcess?[grains.Length];
            for (var i = 0; i < grains.Length; i++)
            {
                var address = await management.GetActivationAddress(grains[i](client));
                found[i] = address is null ? null : Silos.Single(s => s.Port == address.Endpoint.Port);
            }

            return found;
        }
        finally
        {
            await host.StopAsync();
        }
    }

    /// <summary>Each process's last lines, for a failure message.</summary>
    public string RecentOutput(int lines = 30) => string.Join("\n", All.Select(p =>
        $"==== {p.Name} ({(p.IsRunning ? $"pid {p.ProcessId}" : "not running")})\n{string.Join('\n', p.RecentOutput.Split('\n').TakeLast(lines))}"));

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        foreach (var process in All)
        {
            process.Dispose();
        }

        NpgsqlConnection.ClearAllPools();
        await _postgres.DisposeAsync();
        if (Environment.GetEnvironmentVariable("ZTE_KEEP_CLUSTER_LOGS") is not { Length: > 0 })
        {
            TestPaths.TryDelete(_work);
        }
    }

    /// <summary>Waits for a generation of the silo newer than <paramref name="previous"/> to be active (killed ones stay listed active until declared dead).</summary>
    private async Task WaitUntilActiveAsync(ClusterProcess silo, int previous)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (!silo.IsRunning)
            {
                throw new InvalidOperationException($"{silo.Name} exited before it joined the cluster:\n{silo.RecentOutput}");
            }

            if (await RowOfAsync(silo) is { Status: MembershipRow.Active } row && row.Generation > previous)
            {
                return;
            }

            if (clock.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"{silo.Name} did not become active within {StartTimeout}:\n{silo.RecentOutput}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
    }

    private async Task WaitUntilAnsweringAsync(ClusterProcess gateway)
    {
        using var channel = GrpcChannel.ForAddress(gateway.Address);
        var admin = new RolloutAdmin.RolloutAdminClient(channel);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (!gateway.IsRunning)
            {
                throw new InvalidOperationException($"{gateway.Name} exited before it served:\n{gateway.RecentOutput}");
            }

            try
            {
                await admin.GetFleetStatusAsync(new FleetRequest(), AdminHeaders, DateTime.UtcNow.AddSeconds(5));
                return;
            }
            catch (RpcException) when (clock.Elapsed < StartTimeout)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
            catch (RpcException e)
            {
                throw new TimeoutException($"{gateway.Name} did not answer within {StartTimeout} ({e.Status}):\n{gateway.RecentOutput}");
            }
        }
    }

    private static async Task MigrateAsync(string server, string[] database, string logFile)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(server)! };
        foreach (var argument in (string[])[server, "migrate", .. database])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await File.WriteAllTextAsync(logFile, await output + await error);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"migrate exited {process.ExitCode}: {await error}{await output}");
        }
    }

    /// <summary>
    /// A host's binary where its own project builds it (bin/&lt;configuration&gt;/net10.0, the configuration this test
    /// assembly was built in), as deploy/local-cluster.sh runs it. The test project references both hosts, so
    /// building the tests builds them.
    /// </summary>
    private static string FindAssembly(string project, string assembly)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var (framework, configuration) = (output.Name, output.Parent!.Name);
        var path = Path.Combine(TestPaths.RepositoryRoot(), project, "bin", configuration, framework, assembly);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"{assembly} is not built at {path}; build the solution (the test project references {project}).", path);
    }

    private static GrpcChannel RoundRobin(IEnumerable<int> ports)
    {
        var addresses = ports.Select(p => new BalancerAddress("127.0.0.1", p)).ToArray();
        var services = new ServiceCollection();
        services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => addresses));
        return GrpcChannel.ForAddress("static:///zte-gateways", new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
            ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } },
            ServiceProvider = services.BuildServiceProvider(),
            // A restarted gateway is used again within a second or two.
            InitialReconnectBackoff = TimeSpan.FromMilliseconds(250),
            MaxReconnectBackoff = TimeSpan.FromSeconds(2),
            MaxReceiveMessageSize = 16 << 20,
        });
    }
}
