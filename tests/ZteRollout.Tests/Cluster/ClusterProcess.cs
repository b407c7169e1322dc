using System.Diagnostics;

namespace ZteRollout.Tests.Cluster;

public enum ClusterRole
{
    Silo,
    Gateway,
}

/// <summary>
/// One process of a local cluster (a silo or a gateway), started with <c>dotnet &lt;dll&gt; &lt;arguments&gt;</c> exactly as
/// deploy/local-cluster.sh starts it, restartable with the same arguments (so the same ports), and killable without
/// warning (SIGKILL). Its output goes to a log file and the last lines are kept for failure messages.
/// </summary>
public sealed class ClusterProcess : IDisposable
{
    private const int OutputLinesKept = 200;
    private readonly string _assembly;
    private readonly IReadOnlyList<string> _arguments;
    private readonly string _logFile;
    private readonly Queue<string> _output = new();
    private Process? _process;

    public ClusterProcess(string name, ClusterRole role, string assembly, IReadOnlyList<string> arguments, string logFile, int port, string address)
    {
        Name = name;
        Role = role;
        _assembly = assembly;
        _arguments = arguments;
        _logFile = logFile;
        Port = port;
        Address = address;
    }

    public string Name { get; }

    public ClusterRole Role { get; }

    /// <summary>A silo's silo-to-silo port (its identity in the membership table); a gateway's HTTP port.</summary>
    public int Port { get; }

    /// <summary>Where the process serves HTTP/2: a silo its health service, a gateway the gRPC API.</summary>
    public string Address { get; }

    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    public bool IsRunning => _process is { HasExited: false };

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

    public void Start()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Name} is already running (pid {_process!.Id}).");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(_assembly)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(_assembly);
        foreach (var argument in _arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Only the arguments configure the process: settings of the user running the tests must not reach it.
        foreach (var name in start.Environment.Keys.ToList())
        {
            if (name.StartsWith("ZTE_", StringComparison.Ordinal) || name.StartsWith("Rollout__", StringComparison.Ordinal) || name == "ASPNETCORE_URLS")
            {
                start.Environment.Remove(name);
            }
        }

        _process?.Dispose();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        Keep($"---- {DateTime.UtcNow:HH:mm:ss.fff} starting {Name}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>Kills the process without warning (SIGKILL) and waits until it is gone.</summary>
    public void Kill()
    {
        if (_process is not { } process)
        {
            return;
        }

        try
        {
            // `dotnet app.dll` runs the app in the host process itself: no children to look for.
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        process.WaitForExit();
        Keep($"---- {DateTime.UtcNow:HH:mm:ss.fff} killed {Name}");
    }

    public void Dispose()
    {
        Kill();
        _process?.Dispose();
        _process = null;
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

            File.AppendAllText(_logFile, line + "\n");
        }
    }
}
