using System.Diagnostics;

namespace ZteRollout.Shared.Telemetry;

/// <summary>
/// The rollout's own spans, under the gateway's request span and Orleans' grain call spans (activity propagation):
/// so a slow check-in shows whether the time went to the gateway, the grain, or the durable write. Without a
/// listener (no tracing configured) <see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns null and
/// costs a check.
/// </summary>
public static class RolloutTracing
{
    /// <summary>The source's name, for <c>AddSource</c>.</summary>
    public const string SourceName = "ZteRollout";

    public static readonly ActivitySource Source = new(SourceName, "1.0");

    /// <summary>Orleans' sources of grain call spans, emitted when activity propagation is on.</summary>
    public static readonly string[] OrleansSources = ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    /// <summary>The span of one grain state write, from the grain's request to its durable ack.</summary>
    public const string StorageWriteSpan = "grain state write";
}
