using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZteRollout.Shared;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Silo.Packages;

/// <summary>
/// Builds deltas on this silo, off the Orleans scheduler: at most <see cref="DeltaOptions.MaxConcurrent"/> at once,
/// within <see cref="DeltaOptions.MemoryBudgetBytes"/>. A build writes <c>{blobs}/tmp/delta-{pair}.partial</c>
/// (deleted first, so a build a restart interrupted starts afresh), moves a kept patch to its content address, has the
/// catalog sign and store it, and reports the result to <see cref="IDeltaGenerationGrain"/>. Uploads and device calls
/// never wait for it: they run on other threads, and the grain only hands work over.
/// </summary>
public sealed class DeltaBuilder : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly IGrainFactory _grains;
    private readonly DeltaOptions _options;
    private readonly RolloutClock _clock;
    private readonly ILogger<DeltaBuilder> _logger;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationToken _stoppingToken;
    private readonly ConcurrentDictionary<string, DeltaProgress> _running = new(StringComparer.Ordinal);
    private readonly object _memoryLock = new();
    private long _memoryReserved;
    private TaskCompletionSource _memoryReleased = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    public DeltaBuilder(IGrainFactory grains, IOptions<DeltaOptions> options, IOptions<RolloutSiloOptions> silo,
        RolloutClock clock, ILogger<DeltaBuilder> logger)
    {
        _grains = grains;
        _options = options.Value;
        _clock = clock;
        _logger = logger;
        _slots = new SemaphoreSlim(Math.Max(1, _options.MaxConcurrent));
        _stoppingToken = _stopping.Token;
        BlobDirectory = _options.BlobDirectory ?? Path.Combine(silo.Value.DataDirectory, "blobs");
    }

    /// <summary>Raised as a build consumes its target image (job key, bytes done, bytes in all); for watchers and logs.</summary>
    public event Action<string, long, long>? Progress;

    public string BlobDirectory { get; }

    /// <summary>Path of the half-built patch of a pair; deterministic, so a restarted build finds and discards it.</summary>
    public string PartialPathOf(string key) =>
        Path.Combine(BlobLayout.TempDirectory(BlobDirectory), "delta-" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..24] + ".partial");

    /// <summary>Whether this silo is building (or about to build) the pair now.</summary>
    public bool IsRunning(string key) => _running.ContainsKey(key);

    /// <summary>Progress of a running build, or null.</summary>
    public DeltaProgress? ProgressOf(string key) => _running.GetValueOrDefault(key);

    /// <summary>Starts building <paramref name="job"/> (attempt <see cref="DeltaJob.Attempt"/>) unless this silo already builds the pair.</summary>
    public bool TryStart(DeltaJob job)
    {
        if (Volatile.Read(ref _disposed) != 0 || !_running.TryAdd(job.Key, new DeltaProgress(false, 0, job.TargetSize)))
        {
            return false;
        }

        // Task.Run leaves the calling grain's scheduler: the build is CPU-bound for seconds to minutes.
        _ = Task.Run(() => RunAsync(job, _stoppingToken), CancellationToken.None);
        return true;
    }

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(DeltaBuilder), ServiceLifecycleStage.Active, ResumeAsync, StopAsync);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stopping.Cancel();
            _stopping.Dispose();
        }
    }

    private Task ResumeAsync(CancellationToken cancellationToken)
    {
        // Not awaited: a silo's start must not wait for the catalog of deltas.
        _ = Task.Run(async () =>
        {
            for (var attempt = 1; attempt <= 5 && !_stoppingToken.IsCancellationRequested; attempt++)
            {
                try
                {
                    await _grains.GetGrain<IDeltaGenerationGrain>(0).ResumeAsync();
                    return;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _logger.LogWarning(e, "Resuming delta generation failed (attempt {Attempt}); retrying", attempt);
                    await Task.Delay(TimeSpan.FromSeconds(attempt), _clock.Time, _stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
                }
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    private Task StopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            // Running builds stop at their next chunk; their partial files stay until the next attempt deletes them.
            _stopping.Cancel();
        }

        return Task.CompletedTask;
    }

    private async Task RunAsync(DeltaJob job, CancellationToken ct)
    {
        DeltaJob result;
        try
        {
            result = await BuildAsync(job, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _running.TryRemove(job.Key, out _);
            return;
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Delta {Key} attempt {Attempt} failed", job.Key, job.Attempt);
            result = Finish(job, DeltaJobState.Failed, e is RolloutException or IOException or InvalidDataException ? e.Message : $"{e.GetType().Name}: {e.Message}");
        }

        try
        {
            await _grains.GetGrain<IDeltaGenerationGrain>(0).CompleteAsync(job.Key, job.Attempt, result);
        }
        catch (Exception e)
        {
            // The job stays Building in storage: the grain's next activation or sweep builds it again.
            _logger.LogWarning(e, "Could not record the result of delta {Key}", job.Key);
        }
        finally
        {
            _running.TryRemove(job.Key, out _);
        }
    }

    private async Task<DeltaJob> BuildAsync(DeltaJob job, CancellationToken ct)
    {
        var windowLog = ZstdPatch.WindowLogFor(job.BaseSize, job.TargetSize);
        if (windowLog > _options.MaxWindowLog)
        {
            return Finish(job with { WindowLog = windowLog }, DeltaJobState.Refused,
                $"image of {Math.Max(job.BaseSize, job.TargetSize)} bytes needs a zstd window of 2^{windowLog}; the limit is 2^{_options.MaxWindowLog} "
                + $"({Mib(1L << _options.MaxWindowLog)} MiB, {(_options.MaxWindowLog >= ZstdPatch.MaxWindowLog ? "zstd's maximum" : DeltaOptions.Section + ":MaxWindowLog")}): devices get the FULL");
        }

        var basePath = BlobLayout.PathOf(BlobDirectory, job.BaseSha256);
        var targetPath = BlobLayout.PathOf(BlobDirectory, job.TargetSha256);
        if (CompressedReason(targetPath) is { } compressed)
        {
            return Finish(job with { WindowLog = windowLog }, DeltaJobState.Skipped,
                $"compressed payload ({compressed}): a delta would be about as large as the full image; upload the image uncompressed");
        }

        var needed = ZstdPatch.EstimateGenerationBytes(job.BaseSize, windowLog);
        if (needed > _options.MemoryBudgetBytes)
        {
            return Finish(job with { WindowLog = windowLog }, DeltaJobState.Refused,
                $"generation needs about {Mib(needed)} MiB, more than the memory budget of {Mib(_options.MemoryBudgetBytes)} MiB ({DeltaOptions.Section}:MemoryBudgetBytes)");
        }

        await _slots.WaitAsync(ct);
        try
        {
            await ReserveAsync(needed, ct);
            try
            {
                return await Task.Run(() => BuildAndRegisterAsync(job, basePath, targetPath, windowLog, ct), ct);
            }
            finally
            {
                Release(needed);
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task<DeltaJob> BuildAndRegisterAsync(DeltaJob job, string basePath, string targetPath, int windowLog, CancellationToken ct)
    {
        var partial = PartialPathOf(job.Key);
        Directory.CreateDirectory(Path.GetDirectoryName(partial)!);
        File.Delete(partial);
        _running[job.Key] = new DeltaProgress(true, 0, job.TargetSize);
        await WritePatchAsync(job, basePath, targetPath, partial, windowLog, ct);
        var size = new FileInfo(partial).Length;
        var built = job with { WindowLog = windowLog, DeltaSize = size, BytesDone = job.TargetSize };
        var share = (double)size / Math.Max(1, job.TargetSize);
        if (share >= _options.MaxShareOfFull)
        {
            File.Delete(partial);
            return Finish(built, DeltaJobState.Skipped, string.Create(CultureInfo.InvariantCulture,
                $"delta {share:P1} of full, not below the {_options.MaxShareOfFull:P0} limit ({DeltaOptions.Section}:MaxShareOfFull): devices get the FULL"));
        }

        string sha256;
        await using (var read = File.OpenRead(partial))
        {
            sha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(read, ct));
        }

        var blob = BlobLayout.PathOf(BlobDirectory, sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        if (File.Exists(blob))
        {
            File.Delete(partial);
        }
        else
        {
            File.Move(partial, blob);
        }

        try
        {
            var record = await _grains.GetGrain<IPackageCatalogGrain>(0).RegisterGeneratedDeltaAsync(built, size, sha256, windowLog);
            return Finish(built with { DeltaPackageId = record.PackageId }, DeltaJobState.Kept, null);
        }
        catch (RolloutException e) when (e.Kind == RolloutErrorKind.AlreadyExists)
        {
            return Finish(built, DeltaJobState.Skipped, e.Message);
        }
    }

    /// <summary>The patch into <paramref name="partial"/>; the base image is held (pinned) only while this runs.</summary>
    private async Task WritePatchAsync(DeltaJob job, string basePath, string targetPath, string partial, int windowLog, CancellationToken ct)
    {
        var baseImage = await File.ReadAllBytesAsync(basePath, ct);
        if (baseImage.LongLength != job.BaseSize)
        {
            throw new InvalidDataException($"base blob {job.BaseSha256} has {baseImage.LongLength} bytes, its manifest {job.BaseSize}");
        }

        await using var target = new FileStream(targetPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        await using var patch = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        ZstdPatch.Create(baseImage, target, job.TargetSize, patch, windowLog, done =>
        {
            _running[job.Key] = new DeltaProgress(true, done, job.TargetSize);
            Progress?.Invoke(job.Key, done, job.TargetSize);
        }, ct);
        patch.Flush(flushToDisk: true);
    }

    private DeltaJob Finish(DeltaJob job, DeltaJobState state, string? reason) =>
        job with { State = state, Reason = reason, FinishedAt = _clock.UtcNow };

    private static string? CompressedReason(string path)
    {
        using var file = File.OpenRead(path);
        var sample = new byte[(int)Math.Min(PayloadProbe.SampleBytes, file.Length)];
        file.ReadExactly(sample);
        return PayloadProbe.CompressedReason(sample);
    }

    private async Task ReserveAsync(long bytes, CancellationToken ct)
    {
        while (true)
        {
            Task released;
            lock (_memoryLock)
            {
                if (_memoryReserved + bytes <= _options.MemoryBudgetBytes)
                {
                    _memoryReserved += bytes;
                    return;
                }

                released = _memoryReleased.Task;
            }

            // Another build holds the memory: wait until one ends rather than run the silo out of memory.
            await released.WaitAsync(ct);
        }
    }

    private void Release(long bytes)
    {
        TaskCompletionSource released;
        lock (_memoryLock)
        {
            _memoryReserved -= bytes;
            released = _memoryReleased;
            _memoryReleased = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        released.TrySetResult();
    }

    private static long Mib(long bytes) => bytes >> 20;
}

/// <summary>A build on this silo: waiting for a slot or memory (<see cref="Started"/> false), or this far through its target.</summary>
public sealed record DeltaProgress(bool Started, long BytesDone, long BytesTotal);
