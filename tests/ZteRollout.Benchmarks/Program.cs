using System.CommandLine;
using ZteRollout.Benchmarks;

// Benchmark programs (CONVENTIONS.md rule 10): each prints figures, with its baseline measured in the same run.
// `dotnet run -c Release --project tests/ZteRollout.Benchmarks -- checkin|halt [options]`; docs/benchmarks.md has the figures.

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

var root = new RootCommand("ZteRollout benchmarks: programs that print figures, not tests.") { checkIn, halt };
return await root.Parse(args).InvokeAsync();
