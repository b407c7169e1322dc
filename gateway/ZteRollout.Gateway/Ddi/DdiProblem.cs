using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ZteRollout.Gateway.Ddi;

/// <summary>A DDI request refused with an HTTP status and a message naming the problem (the body hawkBit agents log).</summary>
public sealed class DdiProblem(int status, string errorCode, string message) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>A stable key for the kind of problem, as hawkBit's <c>errorCode</c> (e.g. <c>zte.ddi.badRequest</c>).</summary>
    public string ErrorCode { get; } = errorCode;

    public static DdiProblem BadRequest(string message) => new(StatusCodes.Status400BadRequest, "zte.ddi.badRequest", message);

    public static DdiProblem Unauthorized(string message) => new(StatusCodes.Status401Unauthorized, "zte.ddi.unauthorized", message);

    public static DdiProblem NotFound(string message) => new(StatusCodes.Status404NotFound, "zte.ddi.notFound", message);

    public static DdiProblem Gone(string message) => new(StatusCodes.Status410Gone, "zte.ddi.actionClosed", message);

    public static DdiProblem Conflict(string message) => new(StatusCodes.Status409Conflict, "zte.ddi.conflict", message);

    public static DdiProblem TooLarge(string message) => new(StatusCodes.Status413PayloadTooLarge, "zte.ddi.bodyTooLarge", message);

    private static readonly JsonSerializerOptions ReadableJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json";
        if (Status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = "TargetToken";
        }

        // Agents log this body as text: quotes and apostrophes stay readable (the content type is JSON, never HTML).
        return response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["errorCode"] = ErrorCode,
            ["message"] = Message,
        }, ReadableJson));
    }
}
