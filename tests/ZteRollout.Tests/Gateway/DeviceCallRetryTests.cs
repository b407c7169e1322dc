using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Gateway.Errors;
using ZteRollout.Gateway.Services;
using ZteRollout.Shared.Errors;

namespace ZteRollout.Tests.Gateway;

/// <summary>The gateway's retry of device grain calls: transient failures within a time budget, on a fake clock.</summary>
public sealed class DeviceCallRetryTests
{
    private readonly FakeTimeProvider _clock = new();
    private readonly DeviceCallRetryOptions _settings = new();

    private DeviceCallRetry Retry => new(Options.Create(_settings), _clock);

    [Fact]
    public async Task RunAsync_DeadSiloTwiceThenAnswer_ReturnsTheAnswerOfTheThirdAttempt()
    {
        var attempts = 0;
        var result = await DriveAsync(Retry.RunAsync(() => ++attempts < 3 ? Task.FromException<int>(new SiloUnavailableException()) : Task.FromResult(42), CancellationToken.None));

        Assert.Equal((42, 3), (result, attempts));
    }

    [Fact]
    public async Task RunAsync_ClusterNeverAnswers_GivesUpWithinTheBudget()
    {
        var attempts = 0;
        var call = Retry.RunAsync<int>(() => { attempts++; return Task.FromException<int>(new TimeoutException("no answer")); }, CancellationToken.None);

        var error = await Assert.ThrowsAsync<TimeoutException>(() => DriveAsync(call));

        Assert.Equal("no answer", error.Message);
        // Gives up within the budget (plus what the step-wise fake-clock driver may overshoot on a busy box), never keeps retrying.
        Assert.InRange(_clock.GetUtcNow() - _start, TimeSpan.FromSeconds(10), _settings.Budget + _settings.MaxDelay);
        Assert.InRange(attempts, 8, 20);
    }

    [Fact]
    public async Task RunAsync_AttemptThatHangs_IsAbandonedAfterTheAttemptTimeoutAndRetried()
    {
        var attempts = 0;
        var secondAttemptAt = DateTimeOffset.MinValue;
        var hang = new TaskCompletionSource<int>();
        var result = await DriveAsync(Retry.RunAsync(() =>
        {
            if (++attempts == 1)
            {
                return hang.Task;
            }

            secondAttemptAt = _clock.GetUtcNow();
            return Task.FromResult(7);
        }, CancellationToken.None));

        // The hung attempt is given up at the attempt timeout, not after Orleans' 30 s response timeout: the retry
        // starts no sooner than the timeout and well inside the budget. (The driver moves the fake clock in small
        // steps while continuations run on a busy thread pool, so the exact instant may lag the timer by a few steps.)
        Assert.Equal((7, 2), (result, attempts));
        Assert.InRange(secondAttemptAt - _start, _settings.AttemptTimeout, _settings.Budget);
    }

    [Fact]
    public async Task RunAsync_CallerMistake_IsNotRetried()
    {
        var attempts = 0;
        var call = Retry.RunAsync<int>(() => { attempts++; return Task.FromException<int>(RolloutException.NotFound("no such offer")); }, CancellationToken.None);

        await Assert.ThrowsAsync<RolloutException>(() => DriveAsync(call));
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task RunAsync_RuntimeKeepsCancelling_EndsAsTimeoutSoTheDeviceHearsUnavailable()
    {
        var call = Retry.RunAsync<int>(() => Task.FromException<int>(new TaskCanceledException("directory registration cancelled")), CancellationToken.None);

        var error = await Assert.ThrowsAsync<TimeoutException>(() => DriveAsync(call));

        Assert.IsType<TaskCanceledException>(error.InnerException);
    }

    [Fact]
    public async Task RunAsync_PlacementCancelledInsideTheCluster_IsRetriedAndAnswered()
    {
        // Seen in a real cluster right after every process restarted: placement gave up on a directory lookup and the
        // runtime answered the call with an OrleansException wrapping the cancellation (the device heard Internal).
        var attempts = 0;
        var result = await DriveAsync(Retry.RunAsync(
            () => ++attempts == 1 ? Task.FromException<int>(new OrleansException("placement failed", new TaskCanceledException("lookup cancelled"))) : Task.FromResult(5),
            CancellationToken.None));

        Assert.Equal((5, 2), (result, attempts));
    }

    [Fact]
    public async Task RunAsync_PlacementKeepsBeingCancelled_EndsAsTimeoutSoTheDeviceHearsUnavailable()
    {
        var call = Retry.RunAsync<int>(() => Task.FromException<int>(new OrleansException("placement failed", new TaskCanceledException("lookup cancelled"))), CancellationToken.None);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => DriveAsync(call));

        Assert.True(ErrorMappingInterceptor.IsTransient(error), $"{error.GetType().Name} would reach the device as Internal");
    }

    [Fact]
    public async Task RunAsync_PlacementTimedOutByTheRuntimesResiliencePipeline_IsRetriedAndAnswered()
    {
        // Seen on a real cluster restarting: placement's directory lookup timed out in the runtime's Polly pipeline;
        // the silo could not even serialize that exception, and the device heard Internal.
        var attempts = 0;
        var result = await DriveAsync(Retry.RunAsync(
            () => ++attempts == 1 ? Task.FromException<int>(new OrleansException("placement failed", new Polly.Timeout.TimeoutRejectedException("lookup timed out"))) : Task.FromResult(9),
            CancellationToken.None));

        Assert.Equal((9, 2), (result, attempts));
    }

    private DateTimeOffset _start;

    /// <summary>Moves the fake clock in small steps until the call completes.</summary>
    private async Task<T> DriveAsync<T>(Task<T> call)
    {
        _start = _clock.GetUtcNow();
        for (var step = 0; !call.IsCompleted && step < 10_000; step++)
        {
            await Task.Yield();
            _clock.Advance(TimeSpan.FromMilliseconds(10));
        }

        return await call;
    }
}
