using Microsoft.Extensions.Logging;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;
using ZteRollout.Silo.Storage;

namespace ZteRollout.Silo.Devices;

/// <summary>
/// A device's outcomes on their way to its campaigns' stats shards. Recording one puts its ledger row into the
/// device state's next write (stored together or not at all) and keeps its event in memory; after that write
/// commits, <see cref="DeliverAsync"/> sends the events to the shards. A failed delivery is retried by a grain timer
/// until a shard takes it. Memory only: the ledger rows are the record and a shard re-reads its rows, so an event
/// lost with its silo is still counted.
/// </summary>
public sealed class OutcomeOutbox(Grain device, IGrainFactory grains, string deviceId, TimeSpan retryInterval, ILogger logger)
{
    private readonly List<OutcomeEvent> _pending = [];

    // The device's shard per campaign, resolved once: resolving a grain reference reads the interface's attributes,
    // which showed in the durable path's profile (docs/benchmarks.md).
    private readonly Dictionary<string, ICampaignStatsGrain> _shards = new(StringComparer.Ordinal);
    private IGrainTimer? _retry;

    /// <summary>
    /// Records an outcome of the device in a campaign: its sequence, the campaign's latest outcome and failed attempts
    /// in <paramref name="state"/>, the ledger row for the next write, and the event to deliver once stored.
    /// </summary>
    /// <param name="retry">The campaign's retry policy when the snapshot has it, to tell the shard whether a failure may be retried.</param>
    public void Record(DeviceState state, string campaignId, DeviceOutcome outcome, string? errorCode, int stage, DateTimeOffset now, RetryPolicy? retry)
    {
        var retryPending = false;
        var attempts = state.Attempts.GetValueOrDefault(campaignId) ?? new CampaignAttempts(1, null, null);
        if (OutcomeEvent.IsFailure(outcome))
        {
            attempts = attempts with { LastFailureAt = now, LastErrorCode = errorCode, Failures = attempts.Failures + 1 };
            state.Attempts[campaignId] = attempts;
            retryPending = retry is not null && attempts.Offers < retry.MaxAttempts && retry.IsRetryable(errorCode);
        }

        var facts = state.Facts;
        var offer = state.Offer?.CampaignId == campaignId ? state.Offer : null;
        var cohort = new Cohort(facts?.Model ?? string.Empty, facts?.HardwareRevision ?? string.Empty, facts?.Region ?? string.Empty,
            facts?.Carrier ?? string.Empty, offer?.SourceVersion ?? facts?.CurrentVersion ?? string.Empty);
        state.OutcomeSequence++;
        state.Outcomes[campaignId] = outcome;
        var outcomeEvent = new OutcomeEvent(campaignId, deviceId, state.OutcomeSequence, outcome, errorCode, cohort)
        {
            Stage = stage,
            OfferId = offer?.OfferId,
            Deadline = offer is not null && !InstallLifecycle.IsTerminal(offer.Status) ? offer.Deadline : null,
            RetryPending = retryPending,
            FailedAttempts = attempts.Failures,
            LastFailureCode = attempts.Failures > 0 ? attempts.LastErrorCode ?? "E_UNSPECIFIED" : null,
        };
        state.AddRow(new LedgerRowChange(outcomeEvent));
        _pending.Add(outcomeEvent);
    }

    /// <summary>
    /// Sends the stored events to their shards, waiting for them at most <paramref name="wait"/>. The ack path calls
    /// this after the write that made the outcome durable: normally the shards answer within milliseconds, and waiting
    /// for them keeps the campaign's counts (and so its halts) right behind the devices' acks. A shard that cannot
    /// answer soon — re-activating after its silo died, re-reading its ledger rows, on a silo not yet declared dead —
    /// must not hold the device's ack for Orleans' whole response timeout, though: the outcome is already in the
    /// ledger, so the delivery goes on without the caller, a failure is retried by the timer, and the shard's own
    /// re-read of its rows heals a delivery that never arrives.
    /// </summary>
    public async Task DeliverAsync(TimeSpan wait, TimeProvider time)
    {
        var delivery = DeliverAsync();
        if (delivery.IsCompleted)
        {
            return;
        }

        try
        {
            await delivery.WaitAsync(wait, time);
        }
        catch (TimeoutException)
        {
            logger.LogInformation("Device {DeviceId}: outcome delivery not answered within {Wait}; acknowledging on the stored ledger row, delivery continues", deviceId, wait);
        }
    }

    /// <summary>
    /// Sends the stored events to their shards. A failure is logged and retried by a timer; either way the outcome is
    /// already in the ledger, and the shard re-reads its rows, so a delivery that never arrives is healed.
    /// </summary>
    public async Task DeliverAsync()
    {
        if (_pending.Count == 0)
        {
            return;
        }

        var batch = _pending.ToList();
        try
        {
            await Task.WhenAll(batch.GroupBy(e => e.CampaignId).Select(g => ShardFor(g.Key).ApplyAsync([.. g])));
            _pending.RemoveAll(batch.Contains);
            _retry?.Dispose();
            _retry = null;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Device {DeviceId}: {Count} outcome events not delivered yet; will retry", deviceId, batch.Count);
            _retry ??= device.RegisterGrainTimer(
                _ => DeliverAsync(),
                new GrainTimerCreationOptions { DueTime = retryInterval, Period = retryInterval, KeepAlive = true });
        }
    }

    private ICampaignStatsGrain ShardFor(string campaignId)
    {
        if (!_shards.TryGetValue(campaignId, out var shard))
        {
            shard = grains.GetGrain<ICampaignStatsGrain>(StatsSharding.ShardKey(campaignId, StatsSharding.ShardOf(deviceId)));
            _shards[campaignId] = shard;
        }

        return shard;
    }
}
