using Orleans.Concurrency;
using System.Collections.Immutable;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Campaigns;

/// <summary>A device's latest counted status in one campaign.</summary>
[GenerateSerializer, Immutable, Alias("zte.StatsEntry")]
public sealed record StatsEntry(
    [property: Id(0)] long Sequence,
    [property: Id(1)] DeviceOutcome Outcome,
    [property: Id(2)] string? ErrorCode,
    [property: Id(3)] Cohort Cohort);

[GenerateSerializer, Alias("zte.CampaignStatsState")]
public sealed class CampaignStatsState
{
    [Id(0)]
    public Dictionary<string, StatsEntry> Devices { get; set; } = [];
}

/// <summary>
/// One shard of a campaign's counts. It keeps each device's latest status (not a running tally), so a repeated
/// or stale event changes nothing and the counts always equal the device states. Interleaved calls share one
/// storage write (group commit): many devices' outcomes cost one write, and each caller returns after it.
/// </summary>
[Reentrant]
public sealed class CampaignStatsGrain(
    [PersistentState("stats", RolloutStorage.Name)] IPersistentState<CampaignStatsState> state) : Grain, ICampaignStatsGrain
{
    private readonly GroupCommit _commit = new(() => state.WriteStateAsync());

    public async Task ApplyAsync(ImmutableArray<OutcomeEvent> events)
    {
        var changed = false;
        foreach (var e in events)
        {
            if (state.State.Devices.TryGetValue(e.DeviceId, out var known) && known.Sequence >= e.Sequence)
            {
                continue;
            }

            state.State.Devices[e.DeviceId] = new StatsEntry(e.Sequence, e.Outcome, e.ErrorCode, e.Cohort);
            changed = true;
        }

        if (changed)
        {
            await _commit.CommitAsync();
        }
    }

    public Task<CampaignCounts> GetCountsAsync()
    {
        long offered = 0, inProgress = 0, installed = 0, succeeded = 0, failed = 0, rolledBack = 0, timedOut = 0, deferred = 0, canceled = 0;
        foreach (var entry in state.State.Devices.Values)
        {
            switch (entry.Outcome)
            {
                case DeviceOutcome.Deferred: deferred++; continue;
                case DeviceOutcome.Offered: break;
                case DeviceOutcome.InProgress: inProgress++; break;
                case DeviceOutcome.Installed: installed++; break;
                case DeviceOutcome.Succeeded: succeeded++; break;
                case DeviceOutcome.Failed: failed++; break;
                case DeviceOutcome.RolledBack: rolledBack++; break;
                case DeviceOutcome.TimedOut: timedOut++; break;
                case DeviceOutcome.Canceled: canceled++; break;
            }

            // Every device past a deferral was offered once.
            offered++;
        }

        return Task.FromResult(new CampaignCounts(offered, inProgress, installed, succeeded, failed, rolledBack, timedOut, deferred, canceled));
    }
}
