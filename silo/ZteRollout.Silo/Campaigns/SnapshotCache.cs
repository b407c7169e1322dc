using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Telemetry;

namespace ZteRollout.Silo.Campaigns;

/// <summary>
/// This silo's copy of the running-campaign snapshot. The directory pushes each new version; a poll every
/// second catches up when a push was lost and renews this silo's subscription to the pushes. Device grains read it without a call.
/// Every few polls the silo also asks each campaign its snapshot lets offer to reconcile the directory with what the
/// campaign stored, so a halt that was stored but whose publication failed stops this silo's offers within seconds
/// even if nobody retries it. Its version and each new one's publish latency are rollout metrics, labelled by silo.
/// </summary>
public sealed class SnapshotCache(
    IGrainFactory grains,
    IOptions<RolloutSiloOptions> options,
    ILocalSiloDetails silo,
    ILogger<SnapshotCache> logger) : ISnapshotObserver, ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly string _siloLabel = silo.SiloAddress.ToString();
    private IDisposable? _versionGauge;
    /// <summary>Polls between two reconcile requests (at the default poll interval, every 5 s).</summary>
    private const int PollsPerReconcile = 5;
    private readonly CancellationTokenSource _stopping = new();
    private CampaignSnapshot? _current;
    private ISnapshotObserver? _reference;
    private Task? _loop;
    private int _disposed;

    /// <summary>The newest snapshot this silo has; loads it on first use.</summary>
    public async ValueTask<CampaignSnapshot> GetAsync()
    {
        if (Volatile.Read(ref _current) is { } current)
        {
            return current;
        }

        await RefreshAsync();
        return Volatile.Read(ref _current) ?? CampaignSnapshot.Empty;
    }

    /// <summary>The newest snapshot already loaded, without waiting (null before the first load).</summary>
    public CampaignSnapshot? Current => Volatile.Read(ref _current);

    public Task OnSnapshotAsync(CampaignSnapshot snapshot)
    {
        Offer(snapshot);
        return Task.CompletedTask;
    }

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SnapshotCache), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    public void Dispose()
    {
        // The container may dispose this twice (it is registered as itself and as a lifecycle participant).
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stopping.Cancel();
            _stopping.Dispose();
        }
    }

    private Task StartAsync(CancellationToken cancellationToken)
    {
        _reference = grains.CreateObjectReference<ISnapshotObserver>(this);
        _versionGauge = RolloutMetrics.ObserveSnapshotVersion(_siloLabel, () => Volatile.Read(ref _current)?.Version);
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        _versionGauge?.Dispose();
        if (Volatile.Read(ref _disposed) == 0)
        {
            await _stopping.CancelAsync();
        }

        if (_loop is not null)
        {
            await _loop.WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        if (_reference is not null)
        {
            grains.DeleteObjectReference<ISnapshotObserver>(_reference);
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        // Polling is how a lost push or a moved directory is noticed: it runs on real time, not on the
        // rollout clock, so a test's fake clock cannot stop it.
        using var timer = new PeriodicTimer(options.Value.SnapshotPollInterval, TimeProvider.System);
        var polls = 0;
        do
        {
            try
            {
                await RefreshAsync();
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                logger.LogWarning(e, "Campaign snapshot poll failed; retrying");
            }

            if (++polls % PollsPerReconcile == 0)
            {
                ReconcileOfferingCampaigns();
            }
        }
        while (await WaitAsync(timer, stopping));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stopping)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Asks each campaign this silo may make offers for to republish itself if the directory does not hold its stored
    /// state. Only those: a campaign wrongly shown as offering is the unsafe case; the others are the tick's to repair.
    /// </summary>
    private void ReconcileOfferingCampaigns()
    {
        if (Volatile.Read(ref _current) is not { } snapshot)
        {
            return;
        }

        foreach (var campaign in snapshot.Campaigns.Where(c => c.ExposurePercent > 0))
        {
            _ = ReconcileAsync(campaign.CampaignId);
        }
    }

    private async Task ReconcileAsync(string campaignId)
    {
        try
        {
            await grains.Campaign(campaignId).ReconcileAsync();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Campaign {Campaign}: reconcile request failed; the next one retries", campaignId);
        }
    }

    private async Task RefreshAsync()
    {
        var known = Volatile.Read(ref _current)?.Version ?? -1;
        if (await grains.GetGrain<ICampaignDirectoryGrain>(0).PollAsync(known, _reference) is { } newer)
        {
            Offer(newer);
        }
    }

    /// <summary>Keeps the newest version whichever path (push, poll, first load) delivers it first.</summary>
    private void Offer(CampaignSnapshot snapshot)
    {
        while (true)
        {
            var current = Volatile.Read(ref _current);
            if (current is not null && current.Version >= snapshot.Version)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _current, snapshot, current) == current)
            {
                if (snapshot.PublishedAt != default)
                {
                    RolloutMetrics.SnapshotReceived(_siloLabel, TimeProvider.System.GetUtcNow() - snapshot.PublishedAt);
                }

                return;
            }
        }
    }
}
