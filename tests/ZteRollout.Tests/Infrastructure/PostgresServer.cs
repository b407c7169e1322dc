using System.Diagnostics;
using Npgsql;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>
/// A real, throwaway PostgreSQL server: initdb + pg_ctl in a temp directory on a free loopback port, run as the
/// 'postgres' user when the tests run as root (PostgreSQL refuses root). Stoppable and restartable, for outage tests.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string User = "zte";
    private readonly string _binaries;
    private readonly string _directory;

    private PostgresServer(string binaries, string directory, int port)
    {
        _binaries = binaries;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    private string DataDirectory => Path.Combine(_directory, "pg");

    public static async Task<PostgresServer> StartAsync()
    {
        var binaries = FindBinaries();
        var directory = TestPaths.NewTempDirectory("postgres");
        if (IsRoot)
        {
            await RunAsync("chown", "postgres", directory);
        }

        var server = new PostgresServer(binaries, directory, TestPaths.FreePort());
        await server.RunAsPostgresAsync("initdb", "-D", server.DataDirectory, "-A", "trust", "-U", User, "--no-sync");
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>A connection string to a new, empty database.</summary>
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

    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Database={database};Username={User};Maximum Pool Size=50;Timeout=5;Command Timeout=10";

    public Task StopAsync() => RunAsPostgresAsync("pg_ctl", "-D", DataDirectory, "-m", "fast", "-w", "stop");

    public Task StartAgainAsync() => RunAsPostgresAsync("pg_ctl", "-D", DataDirectory, "-l", Path.Combine(_directory, "server.log"), "-w",
        "-o", $"-p {Port} -c listen_addresses=127.0.0.1 -c max_connections=400 -k {DataDirectory}", "start");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (InvalidOperationException)
        {
            // Already stopped (an outage test may end with the server down).
        }

        NpgsqlConnection.ClearAllPools();
        TestPaths.TryDelete(_directory);
    }

    private static bool IsRoot => Environment.UserName == "root";

    private static string FindBinaries()
    {
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
            : [];
        return candidates.OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault()
            ?? throw new InvalidOperationException("PostgreSQL binaries (initdb, pg_ctl) not found under /usr/lib/postgresql; install the postgresql package.");
    }

    private Task RunAsPostgresAsync(string tool, params string[] args) =>
        IsRoot
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
