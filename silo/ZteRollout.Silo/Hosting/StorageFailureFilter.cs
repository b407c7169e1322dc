using System.Data.Common;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace ZteRollout.Silo.Hosting;

/// <summary>
/// When a grain call fails on storage (the database is down, or an ETag conflict says another activation wrote
/// first), the grain's memory may hold a change that was never stored. Its activation is dropped, so the next call
/// — the caller's retry with the same report id — starts from what storage really holds and re-applies the change.
/// Nothing unstored is ever acknowledged, and nothing is dropped.
/// </summary>
public sealed class StorageFailureFilter(ILogger<StorageFailureFilter> logger) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception e) when (IsStorageFailure(e))
        {
            logger.LogWarning("{Grain}.{Method}: storage failed ({Error}); dropping the activation so the retry re-reads state",
                context.TargetContext.GrainId, context.MethodName, e.GetType().Name);
            context.TargetContext.Deactivate(new DeactivationReason(DeactivationReasonCode.ApplicationError, e, "storage failure; state re-read on next call"));
            throw;
        }
    }

    private static bool IsStorageFailure(Exception e) => e switch
    {
        InconsistentStateException or DbException => true,
        OrleansException { InnerException: { } inner } => IsStorageFailure(inner),
        AggregateException { InnerException: { } inner } => IsStorageFailure(inner),
        _ => false,
    };
}
