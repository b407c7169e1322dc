using Google.Rpc;
using Grpc.Core;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>Asserts on gRPC failures: the status code, and for InvalidArgument the fields named.</summary>
public static class RpcAssert
{
    public static async Task<RpcException> FailsAsync(StatusCode expected, Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(expected == e.StatusCode, $"expected {expected}, got {e.StatusCode}: {e.Status.Detail}");
        return e;
    }

    /// <summary>The field names of the BadRequest details, in order.</summary>
    public static IReadOnlyList<string> Fields(RpcException e)
    {
        var status = e.GetRpcStatus();
        var badRequest = status?.GetDetail<BadRequest>();
        return badRequest?.FieldViolations.Select(v => v.Field).ToList() ?? [];
    }
}
