using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Silo.Campaigns;

/// <summary>A device's latest counted status in one campaign (its ledger row in memory), and how many of its attempts failed.</summary>
public sealed record StatsEntry(
    long Sequence,
    DeviceOutcome Outcome,
    string? ErrorCode,
    Cohort Cohort)
{
    public int Stage { get; init; }

    /// <summary>Failure outcomes applied for this device (each attempt once), so halting sees failures a retry later hid.</summary>
    public int FailedAttempts { get; init; }

    public string? OfferId { get; init; }

    public DateTimeOffset? Deadline { get; init; }

    public bool RetryPending { get; init; }

    public string? LastFailureCode { get; init; }

    public bool IsOpen => Outcome is DeviceOutcome.Offered or DeviceOutcome.InProgress or DeviceOutcome.Installed;
}

/// <summary>
/// One shard of a campaign's counts: an in-memory view of the campaign's ledger rows for the shard's devices.
/// The rows are the truth: each device writes its row (only when its sequence is newer) in the same transaction as
/// its own state, so an outcome is stored, and counted exactly once, before the device hears back. The shard loads
/// its rows when it activates, counts each delivered event once (by per-device sequence), and re-reads its rows
/// every <see cref="RolloutSiloOptions.StatsReconcileInterval"/>, so an event whose delivery was lost (a silo died
/// between the device's commit and the call) is counted within that bound. The shard writes nothing: a change costs
/// the same however many devices the campaign has. Its summary is kept up to date per event, not rebuilt.
/// After each change the shard sends its whole summary to the campaign (coalesced), which is how outcomes reach
/// the halt policy in batches rather than one call per device.
/// </summary>
[Reentrant]
public sealed class CampaignStatsGrain : Grain, ICampaignStatsGrain
{
    // Resolving a grain reference reads the interface's attributes; a shard notifies its campaign after every change.
    private ICampaignGrain? _campaign;

    /// <summary>Expiries a shard's sweep has in flight at once.</summary>
    private const int SweepWave = 16;
    private readonly RowQueries _rows;
    private readonly ILogger<CampaignStatsGrain> _logger;
    private readonly IOptions<RolloutSiloOptions> _options;
    private readonly GroupCommit _notify;
    private readonly Dictionary<string, StatsEntry> _devices = new(StringComparer.Ordinal);
    private readonly ShardTally _tally = new();

    /// <summary>
    /// The sum of the per-device sequences counted: the version of this view, sent with every summary. It grows with
    /// every change (a device's entry is replaced only by a higher sequence), and it is a function of what is counted,
    /// not of this activation's history: a new activation (its silo died, or the silo holding its directory entry)
    /// loads the ledger rows, which hold at least every event the old one counted, so it starts at or above every
    /// summary the old one sent, and the campaign, which keeps the summary with the highest version, takes its
    /// summaries from the start. (A per-activation counter restarted at 1, and the campaign ignored the new activation
    /// until it had counted as many changes again: outcomes acknowledged after a silo's death stayed missing.)
    /// </summary>
    private long _sequence;
    private ShardSummary? _summary;

    public CampaignStatsGrain(RowQueries rows, IOptions<RolloutSiloOptions> options, ILogger<CampaignStatsGrain> logger)
    {
        _rows = rows;
        _options = options;
        _logger = logger;
        _notify = new GroupCommit(NotifyCampaignAsync);
    }

    private string Key => this.GetPrimaryKeyString();

    private string CampaignId => Key[..Key.LastIndexOf('/')];

    private int Shard => int.Parse(Key[(Key.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Apply(await _rows.ReadShardLedgerAsync(CampaignId, Shard, cancellationToken));
        var every = _options.Value.StatsReconcileInterval;
        this.RegisterGrainTimer(ReconcileAsync, new GrainTimerCreationOptions { DueTime = every, Period = every, Interleave = true });
    }

    public Task ApplyAsync(ImmutableArray<OutcomeEvent> events)
    {
        if (Apply(events))
        {
            // The caller (a device) need not wait for the campaign: its event is stored, and summaries are idempotent.
            _ = _notify.CommitAsync();
        }

        return Task.CompletedTask;
    }

    /// <summary>Counts what the ledger holds that this shard has not seen (an event whose delivery was lost).</summary>
    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (Apply(await _rows.ReadShardLedgerAsync(CampaignId, Shard, cancellationToken)))
            {
                _logger.LogInformation("Shard {Key}: counted ledger rows whose events were not delivered", Key);
                await _notify.CommitAsync();
            }
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Shard {Key}: ledger re-read failed; will try again", Key);
        }
    }

    private bool Apply(IEnumerable<OutcomeEvent> events)
    {
        var changed = false;
        foreach (var e in events)
        {
            var known = _devices.GetValueOrDefault(e.DeviceId);
            if (known is not null && known.Sequence >= e.Sequence)
            {
                continue;
            }

            var entry = new StatsEntry(e.Sequence, e.Outcome, e.ErrorCode, e.Cohort)
            {
                Stage = e.Stage,
                FailedAttempts = e.FailedAttempts,
                LastFailureCode = e.LastFailureCode,
                OfferId = e.OfferId,
                Deadline = e.Deadline,
                RetryPending = OutcomeEvent.IsFailure(e.Outcome) && e.RetryPending,
            };
            if (known is not null)
            {
                _tally.Remove(known);
            }

            _tally.Add(entry);
            _devices[e.DeviceId] = entry;
            _sequence += e.Sequence - (known?.Sequence ?? 0);
            changed = true;
        }

        return changed;
    }

    public Task<CampaignCounts> GetCountsAsync() =>
        Task.FromResult(BuildSummary().PerStage.Aggregate(CampaignCounts.Zero, (a, b) => a.Add(b)));

    public Task<ShardSummary> GetSummaryAsync() => Task.FromResult(BuildSummary());

    public Task<ImmutableArray<CohortStageCounts>> GetCohortStageCountsAsync()
    {
        var perCohort = new Dictionary<(string Dimension, string Value), List<MutableCounts>>();
        foreach (var entry in _devices.Values)
        {
            var stage = Math.Max(0, entry.Stage);
            foreach (var key in CohortKeys(entry.Cohort))
            {
                if (!perCohort.TryGetValue(key, out var stages))
                {
                    perCohort[key] = stages = [];
                }

                while (stages.Count <= stage)
                {
                    stages.Add(new MutableCounts());
                }

                stages[stage].Add(entry.Outcome, +1);
                stages[stage].AddRetryPending(entry.RetryPending ? 1 : 0);
            }
        }

        return Task.FromResult<ImmutableArray<CohortStageCounts>>(
            [.. perCohort.Select(c => new CohortStageCounts(c.Key.Dimension, c.Key.Value, [.. c.Value.Select(m => m.ToCounts())]))]);
    }

    public async Task<int> SweepTimeoutsAsync(DateTimeOffset now)
    {
        var overdue = _devices
            .Where(d => d.Value.IsOpen && d.Value.Deadline < now && d.Value.OfferId is not null)
            .Select(d => (DeviceId: d.Key, OfferId: d.Value.OfferId!))
            .ToList();

        // Each device decides for itself (it holds the truth about its offer); its event comes back through ApplyAsync.
        // A few at a time: every expiry is a device write, and thousands at once would queue ahead of whatever else the
        // storage writer serves (a halt's write among them).
        foreach (var wave in overdue.Chunk(SweepWave))
        {
            await Task.WhenAll(wave.Select(d => GrainFactory.Device(d.DeviceId).ExpireOfferAsync(d.OfferId)));
        }

        return overdue.Count;
    }

    private async Task NotifyCampaignAsync()
    {
        try
        {
            await (_campaign ??= GrainFactory.Campaign(CampaignId)).OnShardSummaryAsync(BuildSummary());
        }
        catch (Exception e)
        {
            // The campaign re-reads every shard's summary when it activates and on its tick, so a lost one is recovered.
            _logger.LogWarning(e, "Shard {Key}: summary not delivered to its campaign", Key);
        }
    }

    /// <summary>The summary of the counted events, rebuilt only after a change (reads and pushes share it).</summary>
    private ShardSummary BuildSummary() =>
        _summary is { } known && known.Sequence == _sequence ? known : _summary = _tally.ToSummary(Shard, _sequence);

    /// <summary>
    /// A shard's figures, kept per event: each device's entry is added when counted and removed when a newer one
    /// replaces it, so no change costs more as the shard grows.
    /// </summary>
    private sealed class ShardTally
    {
        private readonly List<MutableCounts> _perStage = [];
        private readonly Dictionary<(string, string), (long Completed, long Failures)> _cohorts = [];
        private readonly Dictionary<string, long> _errorCodes = new(StringComparer.Ordinal);
        private long _completedAttempts, _failedAttempts, _retryPending;

        public void Add(StatsEntry entry) => Count(entry, +1);

        public void Remove(StatsEntry entry) => Count(entry, -1);

        private void Count(StatsEntry entry, int sign)
        {
            var stage = Math.Max(0, entry.Stage);
            while (_perStage.Count <= stage)
            {
                _perStage.Add(new MutableCounts());
            }

            _perStage[stage].Add(entry.Outcome, sign);
            _perStage[stage].AddRetryPending(entry.RetryPending ? sign : 0);
            var completed = entry.FailedAttempts + (entry.Outcome == DeviceOutcome.Succeeded ? 1 : 0);
            _completedAttempts += sign * completed;
            _failedAttempts += sign * entry.FailedAttempts;
            _retryPending += entry.RetryPending ? sign : 0;
            if (entry.FailedAttempts > 0)
            {
                // Every failed attempt of the device is attributed to its latest failure code.
                var code = entry.LastFailureCode ?? entry.ErrorCode ?? "E_UNSPECIFIED";
                var left = _errorCodes.GetValueOrDefault(code) + (sign * entry.FailedAttempts);
                if (left == 0)
                {
                    _errorCodes.Remove(code);
                }
                else
                {
                    _errorCodes[code] = left;
                }
            }

            if (completed > 0)
            {
                foreach (var key in CohortKeys(entry.Cohort))
                {
                    var (c, f) = _cohorts.GetValueOrDefault(key);
                    (c, f) = (c + (sign * completed), f + (sign * entry.FailedAttempts));
                    if (c == 0 && f == 0)
                    {
                        _cohorts.Remove(key);
                    }
                    else
                    {
                        _cohorts[key] = (c, f);
                    }
                }
            }
        }

        public ShardSummary ToSummary(int shard, long sequence) => new(
            shard,
            [.. _perStage.Select(c => c.ToCounts())],
            [.. _cohorts.Select(c => new CohortTally(c.Key.Item1, c.Key.Item2, c.Value.Completed, c.Value.Failures))],
            _errorCodes.ToImmutableDictionary(),
            _completedAttempts,
            _failedAttempts,
            sequence)
        {
            RetryPending = _retryPending,
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
        private long _offered, _inProgress, _installed, _succeeded, _failed, _rolledBack, _timedOut, _deferred, _canceled, _waiting, _retryPending, _pendingConfirmation;

        public void AddRetryPending(int sign) => _retryPending += sign;

        public void Add(DeviceOutcome outcome, int sign)
        {
            switch (outcome)
            {
                case DeviceOutcome.Waiting: _waiting += sign; return;
                case DeviceOutcome.Deferred: _deferred += sign; return;
                case DeviceOutcome.InProgress: _inProgress += sign; break;
                case DeviceOutcome.Installed: _installed += sign; break;
                case DeviceOutcome.Succeeded: _succeeded += sign; break;
                case DeviceOutcome.Failed: _failed += sign; break;
                case DeviceOutcome.RolledBack: _rolledBack += sign; break;
                case DeviceOutcome.TimedOut: _timedOut += sign; break;
                case DeviceOutcome.Canceled: _canceled += sign; break;
                case DeviceOutcome.PendingConfirmation: _pendingConfirmation += sign; break;
            }

            // Every device past waiting and deferral was offered once (its latest offer counts).
            _offered += sign;
        }

        public CampaignCounts ToCounts() =>
            new(_offered, _inProgress, _installed, _succeeded, _failed, _rolledBack, _timedOut, _deferred, _canceled) { Waiting = _waiting, RetryPending = _retryPending, PendingConfirmation = _pendingConfirmation };
    }
}
