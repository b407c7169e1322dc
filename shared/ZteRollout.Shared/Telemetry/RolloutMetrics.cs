using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ZteRollout.Shared.Telemetry;

/// <summary>
/// The rollout's own meter: what operators alert on (check-ins, offers, outcomes, halts, freezes, download bytes),
/// labelled by campaign so one failing rollout stands out, and how the machinery keeps up (each silo's snapshot
/// version and how long a published snapshot took to reach it, durable write latency). Recorded where the fact becomes
/// true: the device grain (check-ins, offers, outcomes), the campaign grain (halts), the campaign directory (freezes),
/// the gateway (bytes), the silo's snapshot cache (snapshots), the group-commit storage (writes).
/// Counters take their tags as structs: nothing is allocated per call beyond what the SDK does with a listener.
/// Exported over OTLP when configured and on the operator listener's <c>/metrics</c> (docs/observability.md).
/// </summary>
public static class RolloutMetrics
{
    /// <summary>The meter's name, for <c>AddMeter</c>.</summary>
    public const string MeterName = "ZteRollout.Rollout";

    private static readonly Meter Meter = new(MeterName, "1.0");

    private static readonly Counter<long> CheckIns = Meter.CreateCounter<long>(
        "zte.rollout.checkins", "{check-in}", "Device check-ins answered, by result (offer, no_update, deferred).");

    private static readonly Counter<long> Offers = Meter.CreateCounter<long>(
        "zte.rollout.offers", "{offer}", "New offers made, by campaign and package kind (full, delta).");

    private static readonly Counter<long> Outcomes = Meter.CreateCounter<long>(
        "zte.rollout.outcomes", "{outcome}", "Device outcomes recorded for a campaign, by campaign, stage, status and error code.");

    private static readonly Counter<long> Halts = Meter.CreateCounter<long>(
        "zte.rollout.halts", "{halt}", "Campaign halts, by campaign and by whether the halt policy or an operator fired it.");

    private static readonly Counter<long> FleetFreezes = Meter.CreateCounter<long>(
        "zte.rollout.fleet_freezes", "{change}", "Fleet freeze switches, by action (freeze, unfreeze).");

    private static readonly Counter<long> DownloadBytes = Meter.CreateCounter<long>(
        "zte.rollout.download", "By", "Package bytes sent to devices, by protocol (grpc, ddi).");

    /// <summary>Latency buckets in seconds, 0.5 ms to 10 s (the SDK's default ones are for milliseconds).</summary>
    private static readonly InstrumentAdvice<double> LatencyBuckets = new()
    {
        HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    };

    private static readonly Histogram<double> SnapshotPublishLatency = Meter.CreateHistogram(
        "zte.rollout.snapshot.publish_latency", "s", "From the campaign directory publishing a snapshot to a silo holding it, by silo.", advice: LatencyBuckets);

    private static readonly Histogram<double> DurableWrites = Meter.CreateHistogram(
        "zte.rollout.storage.write_duration", "s", "Grain state writes through the group-commit storage, from the grain's request to its durable ack, by state.", advice: LatencyBuckets);

    private static readonly Histogram<double> GroupCommits = Meter.CreateHistogram(
        "zte.rollout.storage.commit_duration", "s", "Group-commit transactions (one per batch of grain state writes), by result (ok, failed).", advice: LatencyBuckets);

    /// <summary>Each silo of this process and how it reads its snapshot version (a process may host several: tests).</summary>
    private static readonly ConcurrentDictionary<string, Func<long?>> SnapshotVersionSources = new();

    private static readonly ObservableGauge<long> SnapshotVersions = Meter.CreateObservableGauge(
        "zte.rollout.snapshot.version", ObserveSnapshotVersions, "{version}", "The campaign snapshot version each silo offers from; a silo behind the others lags.");

    private static IEnumerable<Measurement<long>> ObserveSnapshotVersions()
    {
        foreach (var (silo, version) in SnapshotVersionSources)
        {
            if (version() is { } current)
            {
                yield return new Measurement<long>(current, new KeyValuePair<string, object?>("silo", silo));
            }
        }
    }

    /// <summary>Reports <paramref name="silo"/>'s snapshot version on every collection until the result is disposed.</summary>
    public static IDisposable ObserveSnapshotVersion(string silo, Func<long?> version)
    {
        SnapshotVersionSources[silo] = version;
        return new SnapshotVersionRegistration(silo, version);
    }

    private sealed class SnapshotVersionRegistration(string silo, Func<long?> version) : IDisposable
    {
        public void Dispose() => SnapshotVersionSources.TryRemove(new KeyValuePair<string, Func<long?>>(silo, version));
    }

    /// <summary>A silo took a newer snapshot, <paramref name="latency"/> after the directory published it.</summary>
    public static void SnapshotReceived(string silo, TimeSpan latency) =>
        SnapshotPublishLatency.Record(Math.Max(0, latency.TotalSeconds), new KeyValuePair<string, object?>("silo", silo));

    /// <summary>A grain state write was acknowledged durable (or failed) after <paramref name="elapsed"/>.</summary>
    public static void DurableWrite(string state, TimeSpan elapsed) =>
        DurableWrites.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("state", state));

    /// <summary>One group-commit transaction ran for <paramref name="elapsed"/>.</summary>
    public static void GroupCommit(bool committed, TimeSpan elapsed) =>
        GroupCommits.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("result", committed ? "ok" : "failed"));

    public static void CheckIn(string result) =>
        CheckIns.Add(1, new KeyValuePair<string, object?>("result", result));

    public static void Offer(string campaignId, bool delta) =>
        Offers.Add(1, new("campaign", campaignId), new("kind", delta ? "delta" : "full"));

    public static void Outcome(string campaignId, int stage, string status, string? errorCode) =>
        Outcomes.Add(1, new("campaign", campaignId), new("stage", stage + 1), new("status", status), new("error_code", errorCode ?? ""));

    public static void Halt(string campaignId, bool automatic) =>
        Halts.Add(1, new("campaign", campaignId), new("trigger", automatic ? "policy" : "operator"));

    public static void FleetFreeze(bool frozen) =>
        FleetFreezes.Add(1, new KeyValuePair<string, object?>("action", frozen ? "freeze" : "unfreeze"));

    public static void Downloaded(long bytes, string protocol) =>
        DownloadBytes.Add(bytes, new KeyValuePair<string, object?>("protocol", protocol));
}
