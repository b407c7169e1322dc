using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;

namespace ZteRollout.Benchmarks;

/// <summary>What one timed run measured: completed calls, failed calls, wall time and latency percentiles.</summary>
internal sealed record LoadResult(long Calls, long Errors, TimeSpan Elapsed, double P50Ms, double P99Ms)
{
    public double CallsPerSecond => Calls / Elapsed.TotalSeconds;
}

/// <summary>One timed window over a finite supply, and whether the supply ran out before the time did.</summary>
internal sealed record LoadWindow(LoadResult Load, bool RanOut);

/// <summary>
/// Drives one kind of gRPC call with C concurrent callers, either for a fixed time (measured) or once per item
/// (warm-up). Callers share a few HTTP/2 connections: one channel per connection, caller i on channel i mod N.
/// </summary>
internal static class LoadRunner
{
    /// <summary>
    /// One channel per wanted connection. Each has its own handler, so each opens its own HTTP/2 connection;
    /// EnableMultipleHttp2Connections lets a handler open more if its streams ever exceed the server's limit.
    /// </summary>
    public static GrpcChannel[] OpenChannels(string address, int connections) =>
        [.. Enumerable.Range(0, connections).Select(_ => GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = TimeSpan.FromSeconds(60),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            },
            DisposeHttpClient = true,
        }))];

    /// <summary>
    /// Runs <paramref name="concurrency"/> callers, each calling <paramref name="call"/> (with its caller index) back to
    /// back until <paramref name="duration"/> has passed. A call that fails with an RpcException counts as an error and
    /// not in the throughput or latencies.
    /// </summary>
    public static async Task<LoadResult> RunForAsync(TimeSpan duration, int concurrency, Func<int, Task> call) =>
        (await RunWhileSuppliedAsync(duration, concurrency, async caller =>
        {
            await call(caller);
            return true;
        })).Load;

    /// <summary>
    /// Like <see cref="RunForAsync"/>, for a finite supply: <paramref name="call"/> returns false when it found nothing
    /// left to call with, and that caller stops. The window ends when the time is up or every caller stopped;
    /// <c>RanOut</c> says whether any caller ran out of supply.
    /// </summary>
    public static async Task<LoadWindow> RunWhileSuppliedAsync(TimeSpan duration, int concurrency, Func<int, Task<bool>> call)
    {
        var latencies = new List<long>[concurrency];
        long errors = 0;
        var ranOut = 0;
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var callers = Enumerable.Range(0, concurrency).Select(caller => Task.Run(async () =>
        {
            var mine = latencies[caller] = new List<long>(16 * 1024);
            while (Stopwatch.GetTimestamp() < end)
            {
                var before = Stopwatch.GetTimestamp();
                try
                {
                    if (!await call(caller))
                    {
                        Volatile.Write(ref ranOut, 1);
                        return;
                    }

                    mine.Add(Stopwatch.GetTimestamp() - before);
                }
                catch (RpcException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }));
        await Task.WhenAll(callers);
        var elapsed = Stopwatch.GetElapsedTime(start);

        var all = latencies.SelectMany(l => l).ToArray();
        Array.Sort(all);
        return new LoadWindow(new LoadResult(all.Length, errors, elapsed, TicksToMs(Percentile(all, 0.50)), TicksToMs(Percentile(all, 0.99))), ranOut == 1);
    }

    /// <summary>Calls <paramref name="call"/> once for each of <paramref name="count"/> items, at most <paramref name="concurrency"/> at a time.</summary>
    public static Task RunOnceEachAsync(int count, int concurrency, Func<int, Task> call) =>
        Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (i, _) => await call(i));

    /// <summary>Nearest-rank percentile of sorted values (the smallest value with at least p of all at or below it).</summary>
    public static T Percentile<T>(IReadOnlyList<T> sorted, double p)
        where T : struct
    {
        if (sorted.Count == 0)
        {
            return default;
        }

        var rank = (int)Math.Ceiling(p * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    /// <summary>The middle value; for an even count the mean of the two middle ones.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return 0;
        }

        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    public static double TicksToMs(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
