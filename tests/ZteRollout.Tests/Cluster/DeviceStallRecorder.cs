using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using ZteRollout.Device.V1;

namespace ZteRollout.Tests.Cluster;

/// <summary>
/// Measures, on the device side, the longest stall any device saw: from the first attempt of a call to the first
/// answer after it, across the agent's retries (a failed attempt keeps the clock running; a download's stream ends
/// with the report that follows it). Also counts attempts that failed.
/// </summary>
public sealed class DeviceStallRecorder : Interceptor
{
    private readonly ConcurrentDictionary<string, long> _waitingSince = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private TimeSpan _longest;
    private string _longestDevice = string.Empty;
    private DateTime _longestEndedAt;
    private int _failedAttempts;

    public TimeSpan Longest
    {
        get
        {
            lock (_gate)
            {
                return _longest;
            }
        }
    }

    public int FailedAttempts => Volatile.Read(ref _failedAttempts);

    public string Describe()
    {
        lock (_gate)
        {
            return $"longest stall {_longest.TotalSeconds:0.00} s (device {_longestDevice}, answered at {_longestEndedAt:HH:mm:ss.fff} UTC); "
                + $"{FailedAttempts} failed call attempts";
        }
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        var device = DeviceOf(request);
        Begin(device);
        var call = continuation(request, context);
        return new AsyncUnaryCall<TResponse>(TrackAsync(device, call.ResponseAsync), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        Begin(DeviceOf(request));
        return continuation(request, context);
    }

    private async Task<TResponse> TrackAsync<TResponse>(string? device, Task<TResponse> response)
    {
        try
        {
            var answer = await response;
            End(device);
            return answer;
        }
        catch (RpcException)
        {
            Interlocked.Increment(ref _failedAttempts);
            throw;
        }
    }

    private void Begin(string? device)
    {
        if (device is not null)
        {
            // The earliest unanswered attempt stays: retries do not reset the clock.
            _waitingSince.TryAdd(device, Stopwatch.GetTimestamp());
        }
    }

    private void End(string? device)
    {
        if (device is null || !_waitingSince.TryRemove(device, out var since))
        {
            return;
        }

        var waited = Stopwatch.GetElapsedTime(since);
        lock (_gate)
        {
            if (waited > _longest)
            {
                (_longest, _longestDevice, _longestEndedAt) = (waited, device, DateTime.UtcNow);
            }
        }
    }

    private static string? DeviceOf(object request) => request switch
    {
        CheckInRequest c => c.DeviceId,
        ReportRequest r => r.DeviceId,
        DownloadRequest d => d.DeviceId,
        _ => null,
    };
}
