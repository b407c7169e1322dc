namespace ZteRollout.Gateway.Operator;

/// <summary>The operator listener (HTTP/JSON API, OpenAPI, console, metrics); bound from <c>Rollout:Operator</c>.</summary>
public sealed class OperatorOptions
{
    public const string Section = "Rollout:Operator";

    /// <summary>
    /// Where operators' browsers and tools reach the node (HTTP/1.1; https with a configured Kestrel certificate).
    /// The embedded node defaults to <c>http://127.0.0.1:5090</c>; a cluster gateway serves it only when set; an empty
    /// value turns it off. Needs a fixed port: the port tells operator connections from device ones.
    /// </summary>
    public string? Url { get; set; }

    /// <summary>
    /// Serves the Orleans Dashboard under <c>/orleans-dashboard</c> on this listener, admin role only
    /// (<see cref="OrleansDashboardEndpoints"/>). Off by default: its grain call profiler runs on every grain call.
    /// In a cluster, set it on the silos too (they collect the figures the gateway shows).
    /// </summary>
    public bool OrleansDashboard { get; set; }
}
