using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace ZteRollout.Benchmarks;

/// <summary>
/// A PostgreSQL server that lives for one benchmark run: initdb and pg_ctl in a temp directory on a free loopback port,
/// durable settings left at their defaults (fsync on, synchronous_commit on). PostgreSQL refuses to run as root, so
/// as root it runs as the 'postgres' user. Stopped and deleted on dispose.
/// </summary>
internal sealed class ThrowawayPostgres : IAsyncDisposable
{
    private const string User = "zte";
    private readonly string _binaries;
    private readonly string _directory;
    private readonly int _port;

    private ThrowawayPostgres(string binaries, string directory, int port)
    {
        _binaries = binaries;
        _directory = directory;
        _port = port;
    }

    private static bool RunningAsRoot => Environment.UserName == "root";

    private string ClusterDirectory => Path.Combine(_directory, "pg");

    public static async Task<ThrowawayPostgres> StartAsync()
    {
        var binaries = Binaries();
        var directory = Path.Combine(Path.GetTempPath(), "zte-benchmarks", "pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        if (RunningAsRoot)
        {
            await RunAsync("chown", "postgres", directory);
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var server = new ThrowawayPostgres(binaries, directory, port);
        try
        {
            // --no-sync only skips initdb's own flush of the template files; the server itself runs with fsync on.
            await server.RunToolAsync("initdb", "-D", server.ClusterDirectory, "-A", "trust", "-U", User, "--no-sync");
            await server.RunToolAsync("pg_ctl", "-D", server.ClusterDirectory, "-l", Path.Combine(directory, "server.log"), "-w",
                "-o", $"-p {port} -c listen_addresses=127.0.0.1 -c max_connections=300 -k {server.ClusterDirectory}", "start");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>Creates an empty database and returns a connection string to it.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return ConnectionString(name);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (Directory.Exists(Path.Combine(ClusterDirectory, "base")))
        {
            try
            {
                await RunToolAsync("pg_ctl", "-D", ClusterDirectory, "-m", "fast", "-w", "stop");
            }
            catch (InvalidOperationException)
            {
                // Not running (start failed); the directory still goes.
            }
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by the stopping server; the temp folder is the OS's to clean.
        }
    }

    private string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={_port};Database={database};Username={User};Maximum Pool Size=50;Timeout=15;Command Timeout=60";

    private static string Binaries()
    {
        var found = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
            : [];
        return found.OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault()
            ?? throw new InvalidOperationException("PostgreSQL binaries (initdb, pg_ctl) not found under /usr/lib/postgresql; install the postgresql package or pass --pg-connection.");
    }

    private Task RunToolAsync(string tool, params string[] args) =>
        RunningAsRoot
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_binaries, tool), .. args])
            : RunAsync(Path.Combine(_binaries, tool), args);

    private static async Task RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await error}{await output}");
        }
    }
}
