using System.CommandLine;
using System.CommandLine.Parsing;
using ZteRollout.FleetSimulator;
using ZteRollout.Shared;

var gateway = new Option<string>("--gateway") { Description = "Server address (h2c or https).", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
var devices = new Option<int>("--devices") { Description = "Simulated devices.", DefaultValueFactory = _ => 100 };
var failRate = new Option<double>("--fail-rate")
{
    Description = "Share of devices that fail, alternately FAILED at install (E_INSTALL_WRITE) and ROLLED_BACK after reboot (E_BOOT_HEALTHCHECK).",
    DefaultValueFactory = _ => 0.05,
};
var interruptRate = new Option<double>("--interrupt-rate")
{
    Description = "Share of devices whose download is cut once mid-way and resumed.",
    DefaultValueFactory = _ => 0.1,
};
var concurrency = new Option<int>("--concurrency") { Description = "Devices running at once.", DefaultValueFactory = _ => 64 };
var dataDir = new Option<string?>("--data-dir")
{
    Description = "Server data directory holding admin-api-key (default: env ZTE_DATA_DIR, else $XDG_DATA_HOME/zte-rollout, else ~/.local/share/zte-rollout, as the server).",
};
var adminKey = new Option<string?>("--admin-key") { Description = "Admin API key (overrides <data-dir>/admin-api-key)." };
var workDir = new Option<string?>("--work-dir") { Description = "Where device slot directories go (kept); default a temp directory, deleted at the end." };
var model = new Option<string>("--model") { Description = "Device model of the fleet and the packages.", DefaultValueFactory = _ => "SIM-1" };
var packageSize = new Option<long>("--package-size") { Description = "Size of the FULL package in bytes (the DELTA is a quarter).", DefaultValueFactory = _ => 1L << 20 };
var seed = new Option<int>("--seed") { Description = "Seed of the failure and interruption choice.", DefaultValueFactory = _ => 1 };
var noSetup = new Option<bool>("--no-setup") { Description = "Do not upload packages nor create a campaign; run devices (model --model, versions SIM1.0.0 and SIM0.9.0, carrier sim-<run>) against the running --campaign." };
var campaign = new Option<string?>("--campaign") { Description = "Running campaign to measure (with --no-setup)." };
var serverDeltas = new Option<bool>("--server-deltas")
{
    Description = "Upload two firmware-like FULL images and let the server generate the delta (instead of uploading a random FULL and DELTA); "
        + "devices on the base hold the real base image and apply the zstd-patch-1 delta. Prints the bytes saved.",
};

static void AtLeast<T>(Option<T> option, T minimum)
    where T : IComparable<T> =>
    option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<T>().CompareTo(minimum) < 0)
        {
            r.AddError($"{option.Name} must be at least {minimum}.");
        }
    });

static void Rate(Option<double> option) =>
    option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<double>() is < 0 or > 1)
        {
            r.AddError($"{option.Name} must be between 0 and 1.");
        }
    });

AtLeast(devices, 1);
AtLeast(concurrency, 1);
AtLeast(packageSize, 1L);
Rate(failRate);
Rate(interruptRate);

var root = new RootCommand("Runs a fleet of simulated A/B devices through a rollout campaign and checks the server's counts.")
{
    gateway, devices, failRate, interruptRate, concurrency, dataDir, adminKey, workDir, model, packageSize, seed, noSetup, campaign, serverDeltas,
};
root.Validators.Add(r =>
{
    if (r.GetValue(noSetup) && string.IsNullOrWhiteSpace(r.GetValue(campaign)))
    {
        r.AddError("--no-setup needs --campaign ID.");
    }

    if (r.GetValue(noSetup) && r.GetValue(serverDeltas))
    {
        r.AddError("--server-deltas sets up its own packages; it does not go with --no-setup.");
    }
});

root.SetAction((parse, ct) => Simulation.RunAsync(
    new SimulatorOptions(
        parse.GetRequiredValue(gateway),
        parse.GetValue(devices),
        parse.GetValue(failRate),
        parse.GetValue(interruptRate),
        parse.GetValue(concurrency),
        RolloutDataDirectory.Resolve(parse.GetValue(dataDir), Environment.GetEnvironmentVariable),
        parse.GetValue(adminKey),
        parse.GetValue(workDir),
        parse.GetRequiredValue(model),
        parse.GetValue(packageSize),
        parse.GetValue(seed),
        parse.GetValue(noSetup),
        parse.GetValue(campaign))
    {
        ServerDeltas = parse.GetValue(serverDeltas),
    },
    ct));

return await root.Parse(args).InvokeAsync();
