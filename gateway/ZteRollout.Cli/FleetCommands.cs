using System.CommandLine;
using ZteRollout.Admin.V1;

namespace ZteRollout.Cli;

/// <summary><c>fleet freeze|unfreeze|status</c>: the switch that stops every new offer of every campaign.</summary>
internal static class FleetCommands
{
    public static Command Create()
    {
        var freezeReason = new Option<string>("--reason") { Description = "Why, kept with the freeze.", HelpName = "TEXT", Required = true };
        var freeze = new Command("freeze", "Stop every new offer of every campaign until unfrozen.") { freezeReason };
        freeze.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var status = await admin.Client.FreezeFleetAsync(new FleetRequest { Reason = parse.GetRequiredValue(freezeReason) }, cancellationToken: ct);
            Render.Result(parse, status, Render.FleetStatus);
            return 0;
        }));

        var unfreezeReason = new Option<string?>("--reason") { Description = "Why.", HelpName = "TEXT" };
        var unfreeze = new Command("unfreeze", "Lift a fleet freeze.") { unfreezeReason };
        unfreeze.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var status = await admin.Client.UnfreezeFleetAsync(new FleetRequest { Reason = parse.GetValue(unfreezeReason) ?? "" }, cancellationToken: ct);
            Render.Result(parse, status, Render.FleetStatus);
            return 0;
        }));

        var status = new Command("status", "Say whether the fleet is frozen, by whom and why.");
        status.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            Render.Result(parse, await admin.Client.GetFleetStatusAsync(new FleetRequest(), cancellationToken: ct), Render.FleetStatus);
            return 0;
        }));

        return new Command("fleet", "Freeze and unfreeze new offers fleet-wide.") { freeze, unfreeze, status };
    }
}
