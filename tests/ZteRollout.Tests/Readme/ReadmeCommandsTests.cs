using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Xunit.Abstractions;
using ZteRollout.Silo.Host;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Readme;

/// <summary>
/// Keeps README honest: its quick start, its "Try the whole path" command and its CLI examples, read out of README.md
/// and run verbatim with bash from the root of a fresh clone, as a new user types them in two terminals.
/// </summary>
/// <remarks>
/// The clone builds everything again (minutes on two cores); its NuGet packages come from the cache the outer build
/// filled. Its data directory is the per-user default under a temporary XDG_DATA_HOME, so the test never touches the
/// user's own. README's orchestrator listens on 127.0.0.1:5080 (DDI on 8080) with Orleans on 11111 and 30000; no other test uses
/// those (they take free ephemeral ports), and test collections run one at a time.
/// </remarks>
[Collection(Name)]
public sealed partial class ReadmeCommandsTests(ITestOutputHelper output)
{
    public const string Name = "README commands";

    private const string Cli = "dotnet run --project gateway/ZteRollout.Cli -- ";
    private const string ValidateExample = Cli + "campaigns validate deploy/examples/staged-campaign.yaml";
    private static readonly int[] ReadmePorts = [5080, 5090, 8080, 11111, 30000];
    private static readonly TimeSpan BuildAndRunTimeout = TimeSpan.FromMinutes(10);

    [GeneratedRegex(@"--devices \d+")]
    private static partial Regex DevicesOption();

    [Fact]
    public async Task Readme_QuickStartWholePathAndCliCommands_RunVerbatimFromAFreshClone()
    {
        var work = TestPaths.NewTempDirectory("readme");
        var clone = Path.Combine(work, "repo");
        var dataHome = Path.Combine(work, "xdg-data");
        Process? orchestrator = null;
        var orchestratorOutput = new StringBuilder();
        try
        {
            await RunAsync("git", ["clone", "-q", TestPaths.RepositoryRoot(), clone], work, TimeSpan.FromMinutes(2));
            var readme = File.ReadAllText(Path.Combine(clone, "README.md"));

            var quickStart = Commands(readme, "## Quick start");
            Assert.Equal(2, quickStart.Count);
            // The second quick-start command runs the tests, this one among them: running it here would recurse.
            Assert.Equal("dotnet test ZteRollout.sln", quickStart[1]);
            var wholePath = Assert.Single(Commands(readme, "## Try the whole path"));
            Assert.Equal(EmbeddedNode.SimulatorCommand, wholePath); // what the orchestrator prints as the next step
            // The one substitution: a small fleet, so the run takes seconds rather than minutes.
            var simulator = DevicesOption().Replace(wholePath, "--devices 50");
            Assert.NotEqual(wholePath, simulator);
            var cliCommands = Commands(readme, "## Operator CLI");
            Assert.Contains(ValidateExample, cliCommands);
            var firstSteps = cliCommands.TakeWhile(c => c != ValidateExample).ToList();
            Assert.NotEmpty(firstSteps);
            Assert.All(firstSteps, c => Assert.StartsWith(Cli, c));

            await WaitForPortsFreeAsync();
            var environment = FreshUserEnvironment(dataHome);

            // README: a plan is checked without any server running.
            var validate = await BashAsync(ValidateExample, clone, environment, BuildAndRunTimeout);
            Assert.Contains("server checks skipped", validate);

            Log($"$ {quickStart[0]} &");
            orchestrator = StartBash(quickStart[0], clone, environment, orchestratorOutput);
            await WaitUntilServingAsync(orchestrator, orchestratorOutput);
            var dataDirectory = Path.Combine(dataHome, "zte-rollout");
            var adminKey = File.ReadAllText(Path.Combine(dataDirectory, "admin-api-key")).Trim();
            var started = Snapshot(orchestratorOutput);
            Assert.Contains($"  data       {dataDirectory}", started);
            Assert.Contains($"  admin key  {adminKey}  (created now and shown once;", started);
            Assert.Contains("  serving    http://127.0.0.1:5080", started);
            Assert.Contains($"  next       {wholePath}", started);

            var simulation = await BashAsync(simulator, clone, environment, BuildAndRunTimeout);
            Assert.Contains("match=true", simulation);

            foreach (var command in firstSteps)
            {
                await BashAsync(command, clone, environment, BuildAndRunTimeout);
            }
        }
        finally
        {
            if (orchestrator is not null)
            {
                StopTree(orchestrator);
                Log("orchestrator output:\n" + Snapshot(orchestratorOutput));
            }

            TestPaths.TryDelete(work);
        }
    }

    /// <summary>The command lines of the fenced <c>sh</c> blocks of one README section, with <c># comment</c> tails cut.</summary>
    private static List<string> Commands(string readme, string heading)
    {
        var lines = readme.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var start = lines.FindIndex(l => l.StartsWith(heading, StringComparison.Ordinal));
        Assert.True(start >= 0, $"README has no '{heading}' section");
        var commands = new List<string>();
        var inBlock = false;
        for (var i = start + 1; i < lines.Count && !lines[i].StartsWith("## ", StringComparison.Ordinal); i++)
        {
            var line = lines[i];
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                inBlock = !inBlock && line == "```sh";
                continue;
            }

            if (inBlock && WithoutComment(line) is { Length: > 0 } command)
            {
                commands.Add(command);
            }
        }

        return commands;
    }

    /// <summary>A shell line without its comment: a <c>#</c> that starts a word outside quotes, and what follows.</summary>
    private static string WithoutComment(string line)
    {
        char? quote = null;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote is not null)
            {
                quote = c == quote ? null : quote;
            }
            else if (c is '"' or '\'')
            {
                quote = c;
            }
            else if (c == '#' && (i == 0 || char.IsWhiteSpace(line[i - 1])))
            {
                return line[..i].Trim();
            }
        }

        return line.Trim();
    }

    /// <summary>
    /// A new user's environment: this user's, but no ZteRollout settings, and a data home of its own. MSBuild's
    /// variables from the outer <c>dotnet test</c> are dropped, and build nodes are not kept alive: they would hold the
    /// output pipes open after a command ends.
    /// </summary>
    private static Dictionary<string, string> FreshUserEnvironment(string dataHome)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            var name = (string)variable.Key;
            if (name.StartsWith("ZTE_", StringComparison.Ordinal) || name.StartsWith("Rollout__", StringComparison.Ordinal)
                || name.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || name == "ASPNETCORE_URLS")
            {
                continue;
            }

            environment[name] = (string?)variable.Value ?? "";
        }

        environment["XDG_DATA_HOME"] = dataHome;
        environment["MSBUILDDISABLENODEREUSE"] = "1";
        environment["UseSharedCompilation"] = "false";
        environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        environment["DOTNET_NOLOGO"] = "1";
        return environment;
    }

    private async Task WaitForPortsFreeAsync()
    {
        // Someone's own orchestrator may hold them for a while; README's cannot start until they are free.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (ReadmePorts.Where(InUse).ToList() is { Count: > 0 } busy)
        {
            Assert.True(DateTime.UtcNow < deadline,
                $"port(s) {string.Join(", ", busy)} stay in use: README's orchestrator needs 5080, 5090, 8080, 11111 and 30000 on 127.0.0.1");
            Log($"waiting for port(s) {string.Join(", ", busy)} to be free");
            await Task.Delay(TimeSpan.FromSeconds(5));
        }
    }

    private static bool InUse(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private async Task WaitUntilServingAsync(Process orchestrator, StringBuilder orchestratorOutput)
    {
        using var channel = GrpcChannel.ForAddress("http://127.0.0.1:5080");
        var health = new Health.HealthClient(channel);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(orchestrator.HasExited, "the orchestrator exited before serving:\n" + Snapshot(orchestratorOutput));
            Assert.True(clock.Elapsed < BuildAndRunTimeout, $"the orchestrator did not serve within {BuildAndRunTimeout}:\n" + Snapshot(orchestratorOutput));
            try
            {
                var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
                if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    Log($"orchestrator SERVING after {clock.Elapsed.TotalSeconds:0} s");
                    return;
                }
            }
            catch (Grpc.Core.RpcException)
            {
                // Still building or starting.
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Runs one README line with bash, to its end; fails the test when it exits non-zero or overruns.</summary>
    private async Task<string> BashAsync(string command, string directory, Dictionary<string, string> environment, TimeSpan timeout)
    {
        Log($"$ {command}");
        var captured = new StringBuilder();
        using var process = StartBash(command, directory, environment, captured);
        var clock = Stopwatch.StartNew();
        using var overrun = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(overrun.Token);
        }
        catch (OperationCanceledException)
        {
            StopTree(process);
            Assert.Fail($"'{command}' did not finish within {timeout}:\n{Snapshot(captured)}");
        }

        var text = Snapshot(captured);
        Log($"exit {process.ExitCode} after {clock.Elapsed.TotalSeconds:0} s\n{Tail(text)}");
        Assert.True(process.ExitCode == 0, $"'{command}' exited {process.ExitCode}:\n{text}");
        return text;
    }

    private static Process StartBash(string command, string directory, Dictionary<string, string> environment, StringBuilder captured)
    {
        var start = new ProcessStartInfo("bash", ["-c", command])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.Environment.Clear();
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(captured, e.Data);
        process.ErrorDataReceived += (_, e) => Append(captured, e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task RunAsync(string file, string[] arguments, string directory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file, arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        using var overrun = new CancellationTokenSource(timeout);
        var error = process.StandardError.ReadToEndAsync(overrun.Token);
        await process.StandardOutput.ReadToEndAsync(overrun.Token);
        await process.WaitForExitAsync(overrun.Token);
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {await error}");
    }

    private static void StopTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static void Append(StringBuilder captured, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (captured)
        {
            captured.AppendLine(line);
        }
    }

    private static string Snapshot(StringBuilder captured)
    {
        lock (captured)
        {
            return captured.ToString();
        }
    }

    private static string Tail(string text)
    {
        var lines = text.TrimEnd().Split('\n');
        return string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 8)));
    }

    private void Log(string message) => output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {message}");
}
