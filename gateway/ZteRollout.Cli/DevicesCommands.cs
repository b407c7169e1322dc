using System.CommandLine;
using ZteRollout.Admin.V1;

namespace ZteRollout.Cli;

/// <summary><c>devices register|show|explain</c>: provisioning device credentials and looking at one device.</summary>
internal static class DevicesCommands
{
    // The server's limit per RegisterDevices call.
    private const int MaxPerCall = 1000;

    public static Command Create() => new("devices", "Provision devices and inspect them.")
    {
        Register(),
        Show(),
        Explain(),
    };

    private static Command Register()
    {
        var ids = new Argument<string[]>("ID") { Description = "Device ids to provision.", Arity = ArgumentArity.ZeroOrMore };
        var tags = new Option<string[]>("--tag") { Description = "A tag for every device (eligibility rules match tags); repeat for several.", HelpName = "T" };
        var rotate = new Option<bool>("--rotate") { Description = "Issue a new token to devices already registered (their old token stops working)." };
        var fromFile = new Option<FileInfo>("--from-file") { Description = "More ids, one per line (blank lines and # comments skipped).", HelpName = "FILE" }
            .AcceptExistingOnly();

        var command = new Command("register", $"Provision devices and print each one's token, once. Sends batches of {MaxPerCall}.")
        {
            ids, tags, rotate, fromFile,
        };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var deviceIds = DeviceIds(parse.GetValue(ids) ?? [], parse.GetValue(fromFile));
            var issued = new List<DeviceCredential>();
            try
            {
                foreach (var batch in deviceIds.Chunk(MaxPerCall))
                {
                    var request = new RegisterDevicesRequest { RotateExisting = parse.GetValue(rotate) };
                    request.Devices.AddRange(batch.Select(id => new DeviceRegistration { DeviceId = id, Tags = { parse.GetValue(tags) ?? [] } }));
                    var response = await admin.Client.RegisterDevicesAsync(request, cancellationToken: ct);
                    issued.AddRange(response.Credentials);
                }
            }
            finally
            {
                // Tokens exist only in this output: print those already issued even when a later batch fails.
                if (issued.Count < deviceIds.Count && issued.Count > 0)
                {
                    Render.Warning($"only {issued.Count} of {deviceIds.Count} devices were registered; their tokens follow.");
                }

                PrintTokens(parse, issued);
            }

            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var id = new Argument<string>("ID") { Description = "The device id." };
        var command = new Command("show", "Show one device: facts from its last check-in, current offer, install history.") { id };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var device = await admin.Client.GetDeviceAsync(new GetDeviceRequest { DeviceId = parse.GetRequiredValue(id) }, cancellationToken: ct);
            Render.Result(parse, device, Render.Device);
            return 0;
        }));
        return command;
    }

    private static Command Explain()
    {
        var id = new Argument<string>("ID") { Description = "The device id." };
        var command = new Command("explain", "Why each running campaign does or does not offer the device now (rule, bucket, retries, deferral, rate limit, halt, freeze).") { id };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var explanation = await admin.Client.ExplainDeviceAsync(new GetDeviceRequest { DeviceId = parse.GetRequiredValue(id) }, cancellationToken: ct);
            Render.Result(parse, explanation, Render.Explanation);
            return 0;
        }));
        return command;
    }

    private static List<string> DeviceIds(string[] fromArguments, FileInfo? file)
    {
        var fromFile = file is null
            ? []
            : File.ReadLines(file.FullName).Select(line => line.Trim()).Where(line => line.Length > 0 && !line.StartsWith('#'));
        var all = fromArguments.Concat(fromFile).ToList();
        if (all.Count == 0)
        {
            throw new InputException("no device ids: give them as arguments or with --from-file.");
        }

        // A second batch naming a device again would fail AlreadyExists after the first had issued tokens.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (all.FirstOrDefault(id => !seen.Add(id)) is { } twice)
        {
            throw new InputException($"device id '{twice}' is given twice.");
        }

        return all;
    }

    private static void PrintTokens(ParseResult parse, List<DeviceCredential> issued)
    {
        if (issued.Count == 0)
        {
            return;
        }

        if (GlobalOptions.WantsJson(parse))
        {
            Render.Json(new RegisterDevicesResponse { Credentials = { issued } });
            return;
        }

        Render.Warning("tokens are shown only this once (the server keeps hashes): store them now.");
        Render.Credentials(issued);
    }
}
