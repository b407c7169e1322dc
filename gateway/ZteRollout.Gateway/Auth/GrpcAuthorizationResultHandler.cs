using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;

namespace ZteRollout.Gateway.Auth;

/// <summary>
/// Turns an authentication or authorization refusal into a gRPC status that says why (Unauthenticated or
/// PermissionDenied with a message), instead of a bare HTTP 401/403 the client can only report as such.
/// </summary>
public sealed class GrpcAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (!context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) ?? true)
        {
            return _default.HandleAsync(next, context, policy, authorizeResult);
        }

        if (authorizeResult.Challenged)
        {
            var reason = context.Items[RolloutAuth.FailureItem] as string ?? "credentials are required";
            return WriteStatusAsync(context, 16, reason);
        }

        if (authorizeResult.Forbidden)
        {
            var who = context.User.Identity?.Name ?? "caller";
            var role = context.User.FindFirst(System.Security.Claims.ClaimTypes.Role)?.Value ?? "none";
            var needs = string.Join(" or ", policy.Requirements.OfType<RolesAuthorizationRequirement>().SelectMany(r => r.AllowedRoles));
            return WriteStatusAsync(context, 7, $"key '{who}' has role '{role}'; {context.Request.Path} needs {needs}");
        }

        return _default.HandleAsync(next, context, policy, authorizeResult);
    }

    /// <summary>A trailers-only gRPC response: HTTP 200 with the status in the headers and no body.</summary>
    private static Task WriteStatusAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
        return Task.CompletedTask;
    }
}
