using Grpc.Core;

namespace ZteRollout.DeviceAgent;

/// <summary>
/// A round that cannot go on: the server refused a call for a reason retrying cannot fix, transient errors
/// outlasted the retry budget, or the server broke the protocol (e.g. a chunk at the wrong offset).
/// </summary>
public sealed class DeviceAgentException : Exception
{
    public DeviceAgentException(string message, StatusCode? statusCode = null, Exception? inner = null)
        : base(message, inner) => StatusCode = statusCode;

    /// <summary>The gRPC status behind the failure; null for a protocol violation.</summary>
    public StatusCode? StatusCode { get; }
}
