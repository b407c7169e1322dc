using Microsoft.Extensions.Options;
using ZteRollout.Gateway.Errors;

namespace ZteRollout.Gateway.Services;

/// <summary>How long a gateway keeps retrying a device grain call; bound from <c>Rollout:Gateway:DeviceCallRetry</c>.</summary>
public sealed class DeviceCallRetryOptions
{
    public const string Section = "Rollout:Gateway:DeviceCallRetry";

    /// <summary>
    /// No retry starts after this much time since the first attempt (default 15 s). It covers a silo's death until the
    /// cluster declares it (about 3–6 s with the silo's membership settings, docs/design.md) with room to spare, and
    /// stays well inside the reference agent's 30 s call deadline.
    /// </summary>
    public TimeSpan Budget { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The longest wait for one attempt (default 5 s). A request in flight to a silo that died is never answered; the
    /// Orleans client would wait for its 30 s response timeout. The abandoned attempt may still complete: harmless,
    /// because every device call is idempotent.
    /// </summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The wait before the second attempt; it doubles per attempt up to <see cref="MaxDelay"/>, with jitter.</summary>
    public TimeSpan FirstDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Retries a device grain call that hit a dead silo, a timeout (unknown outcome), a storage failure or a cancellation
/// by the runtime (not by the caller), with exponential backoff, for a bounded total — long enough to outlast the
/// detection of a dead silo, so that a device sees a slow answer rather than an error. Safe because every device call
/// is idempotent: a check-in returns the open offer, a credential check and a download grant read, a report carries
/// its id and is applied once. After the budget the error reaches the caller as Unavailable, which a device retries.
/// </summary>
public sealed class DeviceCallRetry(IOptions<DeviceCallRetryOptions> options, TimeProvider clock)
{
    public async Task<T> RunAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var started = clock.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call().WaitAsync(settings.AttemptTimeout, clock, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && (ErrorMappingInterceptor.IsTransient(e) || e is OperationCanceledException))
            {
                var delay = DelayBefore(attempt + 1, settings);
                if (clock.GetElapsedTime(started) + delay > settings.Budget)
                {
                    // A call the runtime cancelled (while membership changes, an activation can fail to register in
                    // the grain directory) is the cluster not answering now, as a timeout is: Unavailable, not Internal.
                    if (e is OperationCanceledException)
                    {
                        throw new TimeoutException("the cluster cancelled the call: " + e.Message, e);
                    }

                    throw;
                }

                await Task.Delay(delay, clock, cancellationToken);
            }
        }
    }

    /// <summary>Half the doubled delay plus a random half: retries of many devices that failed together spread out.</summary>
    private static TimeSpan DelayBefore(int attempt, DeviceCallRetryOptions settings)
    {
        var ceiling = Math.Min(settings.FirstDelay.TotalMilliseconds * Math.Pow(2, attempt - 2), settings.MaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds((ceiling / 2) + (Random.Shared.NextDouble() * ceiling / 2));
    }
}
