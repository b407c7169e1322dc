using System.Diagnostics.Metrics;

namespace ZteRollout.Shared.Telemetry;

/// <summary>
/// The rollout's own meter: what operators alert on (check-ins, offers, outcomes, halts, freezes, download bytes),
/// labelled by campaign so one failing rollout stands out. Recorded where the fact becomes true: the device grain
/// (check-ins, offers, outcomes), the campaign grain (halts), the campaign directory (freezes), the gateway (bytes).
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
