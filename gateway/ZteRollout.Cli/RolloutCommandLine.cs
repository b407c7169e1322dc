using System.CommandLine;

namespace ZteRollout.Cli;

/// <summary>The <c>zte-rollout</c> command tree: the program's entry point, and in-process for tests.</summary>
public static class RolloutCommandLine
{
    public static RootCommand Create()
    {
        var root = new RootCommand("zte-rollout: uploads firmware packages, provisions devices and runs staged rollout campaigns.");
        GlobalOptions.AddTo(root);
        root.Subcommands.Add(PackagesCommands.Create());
        root.Subcommands.Add(DevicesCommands.Create());
        root.Subcommands.Add(CampaignsCommands.Create());
        root.Subcommands.Add(FleetCommands.Create());
        root.Subcommands.Add(DdiCommands.Create());
        return root;
    }
}
