using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using ZteRollout.Shared.Errors;

namespace ZteRollout.Gateway.Errors;

/// <summary>
/// The one place domain and infrastructure errors become gRPC statuses. Caller mistakes map to their code with
/// field violations; a cluster that cannot answer right now maps to Unavailable (retryable); only a real bug is Internal.
/// </summary>
public sealed class ErrorMappingInterceptor(ILogger<ErrorMappingInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw Map(e, context);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw Map(e, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw Map(e, context);
        }
    }

    /// <summary>The status for an exception a service method let through (for services that map their own).</summary>
    public RpcException Map(Exception e, ServerCallContext context)
    {
        if (e is RolloutException domain)
        {
            return ToRpc(domain);
        }

        if (e is OperationCanceledException && context.CancellationToken.IsCancellationRequested)
        {
            return new RpcException(new Grpc.Core.Status(StatusCode.Cancelled, "call cancelled by the client"));
        }

        if (IsTransient(e))
        {
            logger.LogWarning(e, "{Method}: cluster unavailable", context.Method);
            return new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, "the rollout service is temporarily unavailable; retry: " + e.Message));
        }

        logger.LogError(e, "{Method}: unexpected error", context.Method);
        return new RpcException(new Grpc.Core.Status(StatusCode.Internal, "internal error; see server logs"));
    }

    public static RpcException ToRpc(RolloutException e)
    {
        var code = e.Kind switch
        {
            RolloutErrorKind.InvalidArgument => Code.InvalidArgument,
            RolloutErrorKind.NotFound => Code.NotFound,
            RolloutErrorKind.AlreadyExists => Code.AlreadyExists,
            RolloutErrorKind.PermissionDenied => Code.PermissionDenied,
            RolloutErrorKind.FailedPrecondition => Code.FailedPrecondition,
            RolloutErrorKind.OutOfRange => Code.OutOfRange,
            RolloutErrorKind.ResourceExhausted => Code.ResourceExhausted,
            RolloutErrorKind.Unavailable => Code.Unavailable,
            _ => Code.Internal,
        };
        var status = new Google.Rpc.Status { Code = (int)code, Message = e.Message };
        if (e.Violations.Count > 0)
        {
            var badRequest = new BadRequest();
            badRequest.FieldViolations.AddRange(e.Violations.Select(v => new BadRequest.Types.FieldViolation { Field = v.Field, Description = v.Description }));
            status.Details.Add(Any.Pack(badRequest));
        }

        return status.ToRpcException();
    }

    /// <summary>Errors that mean "the cluster or its storage cannot answer now", which a retry may fix.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        TimeoutException => true,
        SiloUnavailableException => true,
        OrleansMessageRejectionException => true,
        Orleans.Runtime.Messaging.ConnectionFailedException => true,
        Orleans.Storage.InconsistentStateException => true,
        System.Data.Common.DbException => true,
        // The runtime gave up on its own work for the call (placement or a directory lookup cancelled while
        // membership changes): the cluster not answering now. A caller's own cancellation is told apart before this.
        OrleansException { InnerException: OperationCanceledException } => true,
        // The runtime's own resilience pipelines (placement retries a directory lookup with a timeout) gave up.
        Polly.ExecutionRejectedException => true,
        OrleansException when e.InnerException is { } inner => IsTransient(inner),
        AggregateException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };
}
