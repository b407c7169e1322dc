using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using ZteRollout.Silo;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>
/// Faults injected into grain state writes inside a test cluster's silos: the next writes of a grain type fail as a
/// database failure would (nothing stored), or wait until the test lets them go (a stalled write). One instance is
/// shared by every silo; <see cref="Install"/> wraps both of the silo's storage providers (the group commit of the
/// devices and the ADO.NET provider of campaigns and the directory).
/// </summary>
public sealed class StorageFaults
{
    private readonly Lock _lock = new();
    private readonly List<WriteRule> _rules = [];

    /// <summary>Wraps the silo's grain storage; call after <c>AddZteRollout</c> (RolloutCluster's silo configuration does).</summary>
    public void Install(ISiloBuilder silo)
    {
        silo.Services.AddKeyedSingleton<IGrainStorage>(RolloutStorage.Hot, (sp, _) => new FaultyGrainStorage(
            new GroupCommitGrainStorage(sp.GetRequiredService<GroupCommitWriter>(), sp.GetRequiredService<Serializer>()), this));
        silo.Services.AddKeyedSingleton<IGrainStorage>(RolloutStorage.Name, (sp, _) => new FaultyGrainStorage(
            Orleans.Storage.AdoNetGrainStorageFactory.Create(sp, RolloutStorage.Name), this));
    }

    /// <summary>The next <paramref name="times"/> writes of grains of <paramref name="grainType"/> (e.g. "device") fail; nothing of them is stored.</summary>
    public WriteRule FailWrites(string grainType, int times, Func<GrainId, bool>? target = null) => Add(new WriteRule(grainType, target, times, hold: null));

    /// <summary>Writes of grains of <paramref name="grainType"/> wait (before storing) until <see cref="WriteRule.Release"/>.</summary>
    public WriteRule HoldWrites(string grainType, Func<GrainId, bool>? target = null) =>
        Add(new WriteRule(grainType, target, int.MaxValue, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)));

    public void Clear()
    {
        lock (_lock)
        {
            foreach (var rule in _rules)
            {
                rule.Release();
            }

            _rules.Clear();
        }
    }

    private WriteRule Add(WriteRule rule)
    {
        lock (_lock)
        {
            _rules.Add(rule);
        }

        return rule;
    }

    private WriteRule? Take(GrainId grainId)
    {
        lock (_lock)
        {
            return _rules.FirstOrDefault(r => r.Matches(grainId) && r.TryTake());
        }
    }

    /// <summary>One injected write fault; counts the writes it caught.</summary>
    public sealed class WriteRule(string grainType, Func<GrainId, bool>? target, int times, TaskCompletionSource? hold)
    {
        private int _caught;

        internal TaskCompletionSource? Gate => hold;

        public int Caught => Volatile.Read(ref _caught);

        public void Release() => hold?.TrySetResult();

        internal bool Matches(GrainId grainId) =>
            string.Equals(grainId.Type.ToString(), grainType, StringComparison.Ordinal) && (target is null || target(grainId));

        internal bool TryTake()
        {
            if (hold is { Task.IsCompleted: true } || _caught >= times)
            {
                return false;
            }

            Interlocked.Increment(ref _caught);
            return true;
        }
    }

    private sealed class FaultyGrainStorage(IGrainStorage inner, StorageFaults faults) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
    {
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
            inner.ReadStateAsync(stateName, grainId, grainState);

        public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            if (faults.Take(grainId) is { } rule)
            {
                if (rule.Gate is not { } gate)
                {
                    // What a database that went away says: a DbException, which the silo treats as a storage failure.
                    throw new SqliteException($"injected storage failure writing {grainId}", 10);
                }

                await gate.Task;
            }

            await inner.WriteStateAsync(stateName, grainId, grainState);
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
            inner.ClearStateAsync(stateName, grainId, grainState);

        public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);
    }
}
