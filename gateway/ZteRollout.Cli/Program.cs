using System.CommandLine;
using Spectre.Console;
using ZteRollout.Cli;

// Piped or redirected, Spectre would lay tables out for 80 columns and wrap their cells; a file has no width.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 240;
}

var root = new RootCommand("zte-rollout: uploads firmware packages, provisions devices and runs staged rollout campaigns.");
GlobalOptions.AddTo(root);
root.Subcommands.Add(PackagesCommands.Create());
root.Subcommands.Add(DevicesCommands.Create());
root.Subcommands.Add(CampaignsCommands.Create());
root.Subcommands.Add(FleetCommands.Create());

return await root.Parse(args).InvokeAsync();
