using System.Diagnostics;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Shared;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>
/// The embedded node (silo + gRPC gateway + SQLite file) as a real child process, started from the server binary the
/// test project builds next to itself, on free loopback ports. Unlike <see cref="EmbeddedNodeHost"/> it can be killed
/// without warning (SIGKILL on Linux), which is how a crash looks from outside; it runs on the real clock.
/// </summary>
public sealed class NodeProcess : IRolloutEndpoint, IAsyncDisposable
{
    /// <summary>The orchestrator's assembly (silo/ZteRollout.Silo.Host), copied into the test output by the project reference.</summary>
    public const string ServerAssembly = "zte-rollout-server.dll";

    private const int OutputLinesKept = 200;

    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private bool _disposed;

    private NodeProcess(Process process, string dataDirectory, string address)
    {
        _process = process;
        DataDirectory = dataDirectory;
        Address = address;
        Channel = GrpcChannel.ForAddress(address);
        Admin = new RolloutAdmin.RolloutAdminClient(Channel);
        Devices = new DeviceUpdate.DeviceUpdateClient(Channel);
    }

    public string DataDirectory { get; }

    public string Address { get; }

    public GrpcChannel Channel { get; }

    public RolloutAdmin.RolloutAdminClient Admin { get; }

    public DeviceUpdate.DeviceUpdateClient Devices { get; }

    /// <summary>The key the node created in its data directory on its first start.</summary>
    public string AdminKey { get; private set; } = string.Empty;

    public Metadata AdminHeaders => EmbeddedNodeHost.Bearer(AdminKey);

    public bool HasExited => _process.HasExited;

    /// <summary>The last lines the process wrote (stdout and stderr), for failure messages.</summary>
    public string RecentOutput
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <summary>Starts the node on <paramref name="dataDirectory"/> and returns once it answers gRPC health with SERVING.</summary>
    public static async Task<NodeProcess> StartAsync(string dataDirectory, TimeSpan readyTimeout, params string[] extraArgs)
    {
        var server = Path.Combine(AppContext.BaseDirectory, ServerAssembly);
        if (!File.Exists(server))
        {
            throw new FileNotFoundException($"{ServerAssembly} is not beside the test assembly; the test project references silo/ZteRollout.Silo.Host to build it.", server);
        }

        var address = $"http://127.0.0.1:{TestPaths.FreePort()}";
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[
            server,
            "--data-dir", dataDirectory,
            "--urls", address,
            $"--Rollout:Ddi:Url=http://127.0.0.1:{TestPaths.FreePort()}",
            $"--Rollout:Operator:Url=http://127.0.0.1:{TestPaths.FreePort()}",
            $"--Rollout:Silo:SiloPort={TestPaths.FreePort()}",
            $"--Rollout:Silo:GatewayPort={TestPaths.FreePort()}",
            "--Logging:LogLevel:Default=Warning",
            .. extraArgs])
        {
            start.ArgumentList.Add(argument);
        }

        // Only the arguments configure the node: settings of the user running the tests must not reach it.
        foreach (var name in start.Environment.Keys.ToList())
        {
            if (name.StartsWith("ZTE_", StringComparison.Ordinal) || name.StartsWith("Rollout__", StringComparison.Ordinal) || name == "ASPNETCORE_URLS")
            {
                start.Environment.Remove(name);
            }
        }

        var process = new Process { StartInfo = start };
        var node = new NodeProcess(process, dataDirectory, address);
        process.OutputDataReceived += (_, e) => node.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => node.Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await node.WaitUntilServingAsync(readyTimeout);
            node.AdminKey = File.ReadAllText(RolloutDataDirectory.AdminKeyFile(dataDirectory)).Trim();
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the process and everything it started, without warning, and waits until it is gone.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.WaitForExit();
    }

    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            Kill();
            Channel.Dispose();
            _process.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private async Task WaitUntilServingAsync(TimeSpan timeout)
    {
        var health = new Health.HealthClient(Channel);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The node exited with {_process.ExitCode} before serving:\n{RecentOutput}");
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"The node did not serve on {Address} within {timeout}:\n{RecentOutput}");
            }

            try
            {
                var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    return;
                }
            }
            catch (RpcException)
            {
                // Still starting.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            if (_output.Count > OutputLinesKept)
            {
                _output.Dequeue();
            }
        }
    }
}
