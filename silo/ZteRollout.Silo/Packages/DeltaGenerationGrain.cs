using System.Collections.Immutable;
using ZteRollout.Shared;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Silo.Packages;

[GenerateSerializer, Alias("zte.DeltaGenerationState")]
public sealed class DeltaGenerationState
{
    /// <summary>Every delta job by its pair key (<see cref="DeltaJob.KeyOf"/>).</summary>
    [Id(0)]
    public Dictionary<string, DeltaJob> Jobs { get; set; } = [];
}

/// <summary>
/// The record of wanted deltas, one job per (base, target) pair, and the one place that starts their builds — so a
/// pair is never built twice at once. A job is stored before its build starts; on activation (after a restart, woken
/// by <see cref="DeltaBuilder"/>) every unfinished job is built again from scratch, as is one whose builder never
/// reported (checked every <see cref="SweepInterval"/> while jobs are open).
/// </summary>
public sealed class DeltaGenerationGrain(
    [PersistentState("deltas", RolloutStorage.Name)] IPersistentState<DeltaGenerationState> state,
    DeltaBuilder builder,
    RolloutClock clock) : Grain, IDeltaGenerationGrain
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);
    private IGrainTimer? _sweep;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await DispatchUnfinishedAsync();
    }

    public async Task<ImmutableArray<DeltaJob>> RequestAsync(ImmutableArray<DeltaPair> pairs, string requestedBy)
    {
        var now = clock.UtcNow;
        var answer = ImmutableArray.CreateBuilder<DeltaJob>(pairs.Length);
        var changed = false;
        foreach (var (basePackage, target) in pairs)
        {
            var key = DeltaJob.KeyOf(basePackage.PackageId, target.PackageId);
            if (state.State.Jobs.TryGetValue(key, out var existing) && existing.State != DeltaJobState.Failed)
            {
                answer.Add(existing);
                continue;
            }

            var job = new DeltaJob(basePackage.PackageId, target.PackageId, basePackage.Manifest.Version, target.Manifest.Version,
                DeltaJobState.Queued, now, requestedBy)
            {
                Attempt = existing?.Attempt ?? 0,
                BaseSha256 = basePackage.Manifest.Sha256,
                BaseSize = basePackage.Manifest.Size,
                TargetSha256 = target.Manifest.Sha256,
                TargetSize = target.Manifest.Size,
            };
            state.State.Jobs[key] = job;
            answer.Add(job);
            changed = true;
        }

        if (changed)
        {
            // One write records the new jobs as started; an acknowledged request survives a crash and is built after it.
            await DispatchUnfinishedAsync(stateChanged: true);
        }

        return [.. answer.Select(j => state.State.Jobs[j.Key])];
    }

    public Task<ImmutableArray<DeltaJob>> ListAsync(string? packageId) =>
        Task.FromResult(state.State.Jobs.Values
            .Where(j => packageId is null || j.BasePackageId == packageId || j.TargetPackageId == packageId || j.DeltaPackageId == packageId)
            .OrderBy(j => j.RequestedAt)
            .ThenBy(j => j.Key, StringComparer.Ordinal)
            .Select(WithProgress)
            .ToImmutableArray());

    public Task ResumeAsync() => Task.CompletedTask;

    public async Task CompleteAsync(string key, int attempt, DeltaJob result)
    {
        if (!state.State.Jobs.TryGetValue(key, out var job) || job.IsFinished || job.Attempt != attempt)
        {
            // A build this grain no longer waits for (superseded by a newer attempt): its result is not the job's.
            return;
        }

        state.State.Jobs[key] = result with { Attempt = attempt, RequestedAt = job.RequestedAt, RequestedBy = job.RequestedBy };
        await state.WriteStateAsync();
    }

    private DeltaJob WithProgress(DeltaJob job) =>
        job.State == DeltaJobState.Building && builder.ProgressOf(job.Key) is { } progress
            ? job with { BytesDone = progress.BytesDone }
            : job;

    /// <summary>
    /// Starts every unfinished job this silo is not building yet. Each start is a new attempt, stored before the build
    /// begins, so the builder's result for an older attempt is recognised and ignored.
    /// </summary>
    private async Task DispatchUnfinishedAsync(bool stateChanged = false)
    {
        var toStart = state.State.Jobs.Values.Where(j => !j.IsFinished && !builder.IsRunning(j.Key)).ToList();
        if (toStart.Count > 0 || stateChanged)
        {
            foreach (var job in toStart)
            {
                state.State.Jobs[job.Key] = job with { State = DeltaJobState.Building, Attempt = job.Attempt + 1, BytesDone = 0 };
            }

            await state.WriteStateAsync();
            foreach (var job in toStart)
            {
                builder.TryStart(state.State.Jobs[job.Key]);
            }
        }

        var open = state.State.Jobs.Values.Any(j => !j.IsFinished);
        if (open && _sweep is null)
        {
            // Keeps the grain in memory while builds run, and rebuilds a job whose builder's report was lost.
            _sweep = this.RegisterGrainTimer(_ => DispatchUnfinishedAsync(), new GrainTimerCreationOptions
            {
                DueTime = SweepInterval,
                Period = SweepInterval,
                KeepAlive = true,
            });
        }
        else if (!open && _sweep is not null)
        {
            _sweep.Dispose();
            _sweep = null;
        }
    }
}
