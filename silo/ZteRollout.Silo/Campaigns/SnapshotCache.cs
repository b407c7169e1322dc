using ZteRollout.Shared;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Silo.Campaigns;

/// <summary>
/// This silo's copy of the running-campaign snapshot. The directory pushes each new version; a poll catches
/// up when a push was lost; a subscription renewal keeps the push alive. Device grains read it without a call.
/// </summary>
public sealed class SnapshotCache(
    IGrainFactory grains,
    RolloutClock clock,
    IOptions<RolloutSiloOptions> options,
    ILogger<SnapshotCache> logger) : ISnapshotObserver, ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(30);
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
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
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
        var renewAt = DateTimeOffset.MinValue;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (clock.UtcNow >= renewAt && _reference is not null)
                {
                    await grains.GetGrain<ICampaignDirectoryGrain>(0).SubscribeAsync(_reference);
                    renewAt = clock.UtcNow + RenewEvery;
                }

                await RefreshAsync();
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                logger.LogWarning(e, "Campaign snapshot refresh failed; retrying");
            }

            try
            {
                await Task.Delay(options.Value.SnapshotPollInterval, clock.Time, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RefreshAsync()
    {
        var known = Volatile.Read(ref _current)?.Version ?? -1;
        if (await grains.GetGrain<ICampaignDirectoryGrain>(0).GetSnapshotAsync(known) is { } newer)
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
                return;
            }
        }
    }
}
