using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;
using Microsoft.AspNetCore.Http;

namespace ZteRollout.Gateway.Operator;

/// <summary>Marks an endpoint served only on the operator listener (console, OpenAPI, metrics).</summary>
public sealed class OperatorEndpointMetadata;

/// <summary>
/// Keeps the operator listener and the device listeners apart: the HTTP/JSON API, the console, OpenAPI and
/// <c>/metrics</c> answer only on the operator port, and the operator port answers nothing else (no device call, no
/// DDI route). Routing has chosen the endpoint when this runs; the connection's local port decides.
/// </summary>
public static class OperatorListener
{
    /// <summary>The port of an operator URL: null when the listener is off, 0 when the URL names none.</summary>
    public static int? PortOf(string? url) => Ddi.DdiListener.PortOf(url);

    public static IApplicationBuilder UseZteRolloutOperatorPort(this IApplicationBuilder app, int? operatorPort)
    {
        if (operatorPort is not { } port)
        {
            // Off: no operator route is mapped, and the check-in path keeps one middleware fewer.
            return app;
        }

        return app.Use((context, next) =>
        {
            if ((context.Connection.LocalPort == port) != IsOperatorEndpoint(context.GetEndpoint()))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
    }

    private static bool IsOperatorEndpoint(Endpoint? endpoint) =>
        endpoint?.Metadata is { } metadata
        && (metadata.GetMetadata<OperatorEndpointMetadata>() is not null || metadata.GetMetadata<GrpcJsonTranscodingMetadata>() is not null);
}
