using Spectre.Console;
using ZteRollout.Cli;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>What one <c>zte-rollout</c> command did: its exit code and what it printed on stdout and stderr.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// Runs the <c>zte-rollout</c> command tree in-process with the console captured. The console is process-wide, which
/// is safe here because test collections run one at a time (xunit.runner.json).
/// </summary>
public static class CliRunner
{
    public static async Task<CliResult> RunAsync(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var (previousOut, previousError, previousAnsi) = (Console.Out, Console.Error, AnsiConsole.Console);
        var captured = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        // Wide enough that no table cell wraps, so a field name or a problem reads on one line.
        captured.Profile.Width = 400;
        Console.SetOut(stdout);
        Console.SetError(stderr);
        AnsiConsole.Console = captured;
        try
        {
            var exitCode = await RolloutCommandLine.Create().Parse(args).InvokeAsync();
            return new CliResult(exitCode, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(previousOut);
            Console.SetError(previousError);
            AnsiConsole.Console = previousAnsi;
        }
    }
}
