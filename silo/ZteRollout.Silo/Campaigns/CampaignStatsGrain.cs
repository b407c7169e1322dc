using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Campaigns;

/// <summary>A device's latest counted status in one campaign, and how many of its attempts failed.</summary>
[GenerateSerializer, Immutable, Alias("zte.StatsEntry")]
public sealed record StatsEntry(
    [property: Id(0)] long Sequence,
    [property: Id(1)] DeviceOutcome Outcome,
    [property: Id(2)] string? ErrorCode,
    [property: Id(3)] Cohort Cohort)
{
    [Id(4)]
    public int Stage { get; init; }

    /// <summary>Failure outcomes applied for this device (each attempt once), so halting sees failures a retry later hid.</summary>
    [Id(5)]
    public int FailedAttempts { get; init; }

    [Id(6)]
    public string? OfferId { get; init; }

    [Id(7)]
    public DateTimeOffset? Deadline { get; init; }

    [Id(8)]
    public bool RetryPending { get; init; }

    public bool IsOpen => Outcome is DeviceOutcome.Offered or DeviceOutcome.InProgress or DeviceOutcome.Installed;
}

[GenerateSerializer, Alias("zte.CampaignStatsState")]
public sealed class CampaignStatsState
{
    [Id(0)]
    public Dictionary<string, StatsEntry> Devices { get; set; } = [];

    /// <summary>Failures per error code over every attempt.</summary>
    [Id(1)]
    public Dictionary<string, long> ErrorCodes { get; set; } = [];

    /// <summary>Grows with every stored change, so the campaign can ignore an older summary that arrives late.</summary>
    [Id(2)]
    public long Sequence { get; set; }
}

/// <summary>
/// One shard of a campaign's counts. It keeps each device's latest status (not a running tally), so a repeated
/// or stale event changes nothing and the counts always equal the device states. Interleaved calls share one
/// storage write (group commit): many devices' outcomes cost one write, and each caller returns after it.
/// After each stored batch the shard sends its whole summary to the campaign (coalesced the same way), which
/// is how outcomes reach the halt policy in batches rather than one call per device.
/// </summary>
[Reentrant]
public sealed class CampaignStatsGrain : Grain, ICampaignStatsGrain
{
    private readonly IPersistentState<CampaignStatsState> _state;
    private readonly ILogger<CampaignStatsGrain> _logger;
    private readonly GroupCommit _commit;
    private readonly GroupCommit _notify;

    public CampaignStatsGrain(
        [PersistentState("stats", RolloutStorage.Name)] IPersistentState<CampaignStatsState> state,
        ILogger<CampaignStatsGrain> logger)
    {
        _state = state;
        _logger = logger;
        _commit = new GroupCommit(WriteAsync);
        _notify = new GroupCommit(NotifyCampaignAsync);
    }

    private CampaignStatsState? _live;

    /// <summary>
    /// The state calls change. What <c>_state.State</c> holds is the last stored copy: summaries are built from it,
    /// so the campaign never counts an outcome that a failed write could still lose.
    /// </summary>
    private CampaignStatsState Live => _live ??= Copy(_state.State);

    private static CampaignStatsState Copy(CampaignStatsState s) => new()
    {
        // Entries are immutable records, so a shallow copy is a snapshot.
        Devices = new Dictionary<string, StatsEntry>(s.Devices, StringComparer.Ordinal),
        ErrorCodes = new Dictionary<string, long>(s.ErrorCodes, StringComparer.Ordinal),
        Sequence = s.Sequence,
    };

    private async Task WriteAsync()
    {
        // Interleaved calls change the live state while a write is under way, and the storage provider serializes
        // off the grain's scheduler: each write gets its own copy.
        var stored = _state.State;
        _state.State = Copy(Live);
        try
        {
            await _state.WriteStateAsync();
        }
        catch
        {
            _state.State = stored;
            throw;
        }
    }

    private string Key => this.GetPrimaryKeyString();

    private string CampaignId => Key[..Key.LastIndexOf('/')];

    private int Shard => int.Parse(Key[(Key.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    public async Task ApplyAsync(ImmutableArray<OutcomeEvent> events)
    {
        var s = Live;
        var changed = false;
        foreach (var e in events)
        {
            var known = s.Devices.GetValueOrDefault(e.DeviceId);
            if (known is not null && known.Sequence >= e.Sequence)
            {
                continue;
            }

            var failed = OutcomeEvent.IsFailure(e.Outcome);
            if (failed)
            {
                var code = e.ErrorCode ?? "E_UNSPECIFIED";
                s.ErrorCodes[code] = s.ErrorCodes.GetValueOrDefault(code) + 1;
            }

            s.Devices[e.DeviceId] = new StatsEntry(e.Sequence, e.Outcome, e.ErrorCode, e.Cohort)
            {
                Stage = e.Stage,
                FailedAttempts = (known?.FailedAttempts ?? 0) + (failed ? 1 : 0),
                OfferId = e.OfferId,
                Deadline = e.Deadline,
                RetryPending = failed && e.RetryPending,
            };
            changed = true;
        }

        if (changed)
        {
            s.Sequence++;
            await _commit.CommitAsync();

            // The caller (a device) need not wait for the campaign: its event is stored, and summaries are idempotent.
            _ = _notify.CommitAsync();
        }
    }

    public Task<CampaignCounts> GetCountsAsync() =>
        Task.FromResult(BuildSummary().PerStage.Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b)));

    public Task<ShardSummary> GetSummaryAsync() => Task.FromResult(BuildSummary());

    public async Task<int> SweepTimeoutsAsync(DateTimeOffset now)
    {
        var overdue = Live.Devices
            .Where(d => d.Value.IsOpen && d.Value.Deadline < now && d.Value.OfferId is not null)
            .Select(d => (DeviceId: d.Key, OfferId: d.Value.OfferId!))
            .ToList();

        // Each device decides for itself (it holds the truth about its offer); its event comes back through ApplyAsync.
        await Task.WhenAll(overdue.Select(d => GrainFactory.Device(d.DeviceId).ExpireOfferAsync(d.OfferId)));
        return overdue.Count;
    }

    private async Task NotifyCampaignAsync()
    {
        try
        {
            await GrainFactory.Campaign(CampaignId).OnShardSummaryAsync(BuildSummary());
        }
        catch (Exception e)
        {
            // The campaign re-reads every shard's summary when it activates and on its tick, so a lost one is recovered.
            _logger.LogWarning(e, "Shard {Key}: summary not delivered to its campaign", Key);
        }
    }

    private ShardSummary? _summary;

    /// <summary>The summary of the stored state, rebuilt only after a write (reads and pushes share it).</summary>
    private ShardSummary BuildSummary() =>
        _summary is { } known && known.Sequence == _state.State.Sequence ? known : _summary = Summarize();

    private ShardSummary Summarize()
    {
        var perStage = new List<MutableCounts>();
        var cohorts = new Dictionary<(string, string), (long Completed, long Failures)>();
        long completedAttempts = 0, failedAttempts = 0, retryPending = 0;
        foreach (var entry in _state.State.Devices.Values)
        {
            var stage = Math.Max(0, entry.Stage);
            while (perStage.Count <= stage)
            {
                perStage.Add(new MutableCounts());
            }

            perStage[stage].Add(entry.Outcome);
            var completed = entry.FailedAttempts + (entry.Outcome == DeviceOutcome.Succeeded ? 1 : 0);
            completedAttempts += completed;
            failedAttempts += entry.FailedAttempts;
            retryPending += entry.RetryPending ? 1 : 0;
            if (completed > 0)
            {
                foreach (var key in CohortKeys(entry.Cohort))
                {
                    var (c, f) = cohorts.GetValueOrDefault(key);
                    cohorts[key] = (c + completed, f + entry.FailedAttempts);
                }
            }
        }

        return new ShardSummary(
            Shard,
            [.. perStage.Select(c => c.ToCounts())],
            [.. cohorts.Select(c => new CohortTally(c.Key.Item1, c.Key.Item2, c.Value.Completed, c.Value.Failures))],
            _state.State.ErrorCodes.ToImmutableDictionary(),
            completedAttempts,
            failedAttempts,
            _state.State.Sequence)
        {
            RetryPending = retryPending,
        };
    }

    private static IEnumerable<(string, string)> CohortKeys(Cohort c)
    {
        yield return ("model", c.Model);
        yield return ("hardware_revision", c.HardwareRevision);
        yield return ("region", c.Region);
        yield return ("carrier", c.Carrier);
        yield return ("source_version", c.SourceVersion);
    }

    private sealed class MutableCounts
    {
        private long _offered, _inProgress, _installed, _succeeded, _failed, _rolledBack, _timedOut, _deferred, _canceled, _waiting;

        public void Add(DeviceOutcome outcome)
        {
            switch (outcome)
            {
                case DeviceOutcome.Waiting: _waiting++; return;
                case DeviceOutcome.Deferred: _deferred++; return;
                case DeviceOutcome.InProgress: _inProgress++; break;
                case DeviceOutcome.Installed: _installed++; break;
                case DeviceOutcome.Succeeded: _succeeded++; break;
                case DeviceOutcome.Failed: _failed++; break;
                case DeviceOutcome.RolledBack: _rolledBack++; break;
                case DeviceOutcome.TimedOut: _timedOut++; break;
                case DeviceOutcome.Canceled: _canceled++; break;
            }

            // Every device past waiting and deferral was offered once (its latest offer counts).
            _offered++;
        }

        public CampaignCounts ToCounts() =>
            new(_offered, _inProgress, _installed, _succeeded, _failed, _rolledBack, _timedOut, _deferred, _canceled) { Waiting = _waiting };
    }
}
