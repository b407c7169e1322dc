using System.CommandLine;
using ZteRollout.Benchmarks;

// Benchmark programs (CONVENTIONS.md rule 10): each prints figures, with its baseline measured in the same run.
// `dotnet run -c Release --project tests/ZteRollout.Benchmarks -- checkin|halt|download|durable|scale|delta [options]`; docs/benchmarks.md has the figures.

static Option<int> Positive(string name, string description, int defaultValue)
{
    var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
    option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<int>() < 1)
        {
            r.AddError($"{name} must be at least 1.");
        }
    });
    return option;
}

var checkInDevices = Positive("--devices", "Registered devices; every one checks in once before timing.", 100_000);
var seconds = Positive("--seconds", "Length of each timed measurement.", 10);
var checkInConcurrency = Positive("--concurrency", "Concurrent callers.", 64);
var checkInConnections = Positive("--connections", "HTTP/2 connections the callers share (one channel each).", 4);
var rounds = Positive("--rounds", "Alternating noop/check-in measurement pairs; figures are medians over them.", 3);
var checkIn = new Command("checkin", "Check-ins per second of the embedded orchestrator against a bare gRPC noop, in the same run.")
{
    checkInDevices, seconds, checkInConcurrency, checkInConnections, rounds,
};
checkIn.SetAction(parse => CheckInBenchmark.RunAsync(
    new CheckInOptions(parse.GetValue(checkInDevices), parse.GetValue(seconds), parse.GetValue(checkInConcurrency), parse.GetValue(checkInConnections), parse.GetValue(rounds)),
    Console.Out));

var haltDevices = Positive("--devices", "Registered devices per trial.", 20_000);
var haltConcurrency = Positive("--concurrency", "Concurrent check-in callers.", 64);
var haltConnections = Positive("--connections", "HTTP/2 connections the check-in callers share (one channel each).", 4);
var trials = Positive("--trials", "Trials, each on a fresh node with fresh devices.", 5);
var halt = new Command("halt", "Time from the report that crosses a halt threshold to the last new offer, under check-in load.")
{
    haltDevices, haltConcurrency, haltConnections, trials,
};
halt.SetAction(parse => HaltBenchmark.RunAsync(
    new HaltOptions(parse.GetValue(haltDevices), parse.GetValue(haltConcurrency), parse.GetValue(haltConnections), parse.GetValue(trials)),
    Console.Out));

var sizeMiB = Positive("--size-mib", "Package size in MiB (held in memory once to upload; at most 2047).", 512);
sizeMiB.Validators.Add(r =>
{
    if (r.GetValueOrDefault<int>() > 2047)
    {
        r.AddError("--size-mib must be at most 2047.");
    }
});
var downloadRounds = Positive("--rounds", "Alternating Kestrel/gRPC measurement rounds (1 and 4 at once); figures are medians over them.", 5);
var download = new Command("download", "One package through the gRPC Download stream against the same file from a bare Kestrel (h2c), 1 and 4 at once.")
{
    sizeMiB, downloadRounds,
};
download.SetAction(parse => DownloadBenchmark.RunAsync(new DownloadOptions(parse.GetValue(sizeMiB), parse.GetValue(downloadRounds)), Console.Out));

var durableDevices = Positive("--devices", "Registered devices; each checks in once for an offer and is reported on once.", 100_000);
var durableSeconds = Positive("--seconds", "Length of each timed window (and of the bare upsert loop).", 10);
var durableConcurrency = Positive("--concurrency", "Concurrent callers.", 64);
var durableConnections = Positive("--connections", "HTTP/2 connections the callers share (one channel each).", 4);
var durableRounds = Positive("--rounds", "Rounds of noop / offer / noop / report windows; figures are medians over them.", 1);
var database = new Option<string>("--database") { Description = "The node's database: sqlite (the embedded default) or postgresql.", DefaultValueFactory = _ => "sqlite" };
database.AcceptOnlyFromAmong("sqlite", "postgresql");
var pgConnection = new Option<string?>("--pg-connection") { Description = "PostgreSQL connection string; without it a throwaway server is started for the run." };
var durable = new Command("durable", "Durable offers and install reports per second against a bare gRPC noop, and rows stored against a bare upsert loop, in the same run.")
{
    durableDevices, durableSeconds, durableConcurrency, durableConnections, durableRounds, database, pgConnection,
};
durable.SetAction(parse => DurableBenchmark.RunAsync(
    new DurableOptions(
        parse.GetValue(durableDevices), parse.GetValue(durableSeconds), parse.GetValue(durableConcurrency), parse.GetValue(durableConnections),
        parse.GetValue(durableRounds), parse.GetValue(database)!, parse.GetValue(pgConnection)),
    Console.Out));

var sizes = new Option<int[]>("--sizes")
{
    Description = "Fleet sizes, comma-separated; each runs on a fresh node.",
    DefaultValueFactory = _ => [10_000, 100_000, 1_000_000],
    CustomParser = r => [.. r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries)).Select(v => int.TryParse(v, out var n) && n > 0 ? n : 0)],
};
sizes.Validators.Add(r =>
{
    if (r.GetValueOrDefault<int[]>() is not { Length: > 0 } values || values.Any(v => v < 1))
    {
        r.AddError("--sizes must be positive whole numbers, e.g. 10000,100000,1000000.");
    }
});
var scaleConcurrency = Positive("--concurrency", "Concurrent first check-ins.", 64);
var scale = new Command("scale", "Registration and first check-in rates by fleet size, and managed heap per active and per idle device.")
{
    sizes, scaleConcurrency,
};
scale.SetAction(parse => ScaleBenchmark.RunAsync(new ScaleOptions(parse.GetValue(sizes)!, parse.GetValue(scaleConcurrency)), Console.Out));

var deltaSizeMiB = Positive("--size-mib", "Size of the root filesystem tar built from this machine's files.", 96);
var replacedPercent = Positive("--replaced-percent", "Percent of the tree's binaries replaced in the new version.", 3);
var deltaSeed = Positive("--seed", "Seed of the file choice (the same seed builds the same pair on the same machine).", 1);
var delta = new Command("delta", "Server-side delta (zstd-patch-1) of a real rootfs tar pair against the zstd-compressed full image and bsdiff, in the same run.")
{
    deltaSizeMiB, replacedPercent, deltaSeed,
};
delta.SetAction(parse => DeltaBenchmark.RunAsync(
    new DeltaBenchmarkOptions(parse.GetValue(deltaSizeMiB), parse.GetValue(replacedPercent) / 100.0, parse.GetValue(deltaSeed)), Console.Out));

var root = new RootCommand("ZteRollout benchmarks: programs that print figures, not tests.") { checkIn, halt, download, durable, scale, delta };
return await root.Parse(args).InvokeAsync();
