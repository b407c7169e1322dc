using Spectre.Console;
using ZteRollout.Cli;

// Piped or redirected, Spectre would lay tables out for 80 columns and wrap their cells; a file has no width.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 240;
}

return await RolloutCommandLine.Create().Parse(args).InvokeAsync();
