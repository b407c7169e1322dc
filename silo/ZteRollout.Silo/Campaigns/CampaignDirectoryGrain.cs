using ZteRollout.Shared.Telemetry;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using ZteRollout.Shared;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Silo.Campaigns;

[GenerateSerializer, Alias("zte.CampaignDirectoryState")]
public sealed class CampaignDirectoryState
{
    /// <summary>Every campaign in creation order, with its state.</summary>
    [Id(0)]
    public List<string> Order { get; set; } = [];

    [Id(1)]
    public Dictionary<string, CampaignState> States { get; set; } = [];

    /// <summary>What device grains need of each running campaign.</summary>
    [Id(2)]
    public Dictionary<string, ActiveCampaign> Running { get; set; } = [];

    [Id(3)]
    public long SnapshotVersion { get; set; }

    [Id(4)]
    public FleetStatus Fleet { get; set; } = new(false, string.Empty, string.Empty, null);

    /// <summary>The revision of each campaign last recorded (see <see cref="ICampaignDirectoryGrain.RecordAsync"/>).</summary>
    [Id(5)]
    public Dictionary<string, long> Revisions { get; set; } = [];
}

/// <summary>
/// The list of campaigns and the versioned snapshot of the running ones, pushed to every silo's cache on
/// each change and polled by them as a fallback (a push can be lost; a poll cannot be skipped).
/// A change is stored before its snapshot is published, so a version number is never published with a content that
/// storage might not keep: a failed write publishes nothing, and the next change takes the next number.
/// Polls are interleaved and served from the last published snapshot, so they never wait behind a change.
/// Kept active so its subscriber list survives idle periods; if it moves (silo loss), the next polls re-subscribe.
/// </summary>
[CollectionAgeLimit(AlwaysActive = true)]
public sealed class CampaignDirectoryGrain(
    [PersistentState("directory", RolloutStorage.Hot)] IPersistentState<CampaignDirectoryState> state,
    RolloutClock clock,
    ILogger<CampaignDirectoryGrain> logger) : Grain, ICampaignDirectoryGrain
{
    // Subscriptions are transport, not rollout timing: they run on real time even when tests fake the rollout clock.
    private static readonly TimeSpan SubscriptionLifetime = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PushTimeout = TimeSpan.FromSeconds(1);
    private readonly Dictionary<ISnapshotObserver, DateTimeOffset> _observers = [];

    // The snapshot of what storage holds: the only one polls and pushes hand out.
    private CampaignSnapshot _published = CampaignSnapshot.Empty;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _published = SnapshotOf(state.State);
        return Task.CompletedTask;
    }

    public async Task RecordAsync(string campaignId, CampaignState campaignState, ActiveCampaign? active, long revision)
    {
        var s = state.State;
        var recorded = s.Revisions.GetValueOrDefault(campaignId);
        if (revision < recorded)
        {
            // A late publication (a slow retry, an activation that lost a race) must not undo a newer one, such as a halt.
            logger.LogInformation("Campaign {Campaign}: ignoring revision {Revision}, {Recorded} is recorded", campaignId, revision, recorded);
            return;
        }

        if (revision == recorded && s.States.ContainsKey(campaignId))
        {
            // A repeat (a retried halt): the record stands; push it again for a silo that may have missed it.
            await PushAsync();
            return;
        }

        if (!s.States.ContainsKey(campaignId))
        {
            s.Order.Add(campaignId);
        }

        s.States[campaignId] = campaignState;
        s.Revisions[campaignId] = revision;
        var changed = active is null ? s.Running.Remove(campaignId) : !Equals(s.Running.GetValueOrDefault(campaignId), active);
        if (active is not null)
        {
            s.Running[campaignId] = active;
        }

        if (changed)
        {
            s.SnapshotVersion++;
        }

        // Store first, publish second: a version is published only once it is stored.
        await CommitAsync();
        if (changed)
        {
            await PushAsync();
        }
    }

    public Task<long> GetRecordedRevisionAsync(string campaignId) =>
        Task.FromResult(state.State.Revisions.GetValueOrDefault(campaignId));

    public async Task PackageAddedAsync(PackageRecord package)
    {
        var s = state.State;
        var changed = false;
        foreach (var (id, campaign) in s.Running.ToList())
        {
            var targets = campaign.TargetsByModel;
            foreach (var model in package.Manifest.Models)
            {
                if (targets.TryGetValue(model, out var target) && IsDeltaOf(package, target))
                {
                    targets = targets.SetItem(model, target with { Deltas = target.Deltas.Add(package) });
                }
            }

            if (!ReferenceEquals(targets, campaign.TargetsByModel))
            {
                s.Running[id] = campaign with { TargetsByModel = targets };
                changed = true;
            }
        }

        if (changed)
        {
            s.SnapshotVersion++;
            await CommitAsync();
            await PushAsync();
        }
    }

    public Task<FleetStatus> FreezeAsync(string actor, string reason) => SetFrozenAsync(true, actor, reason);

    public Task<FleetStatus> UnfreezeAsync(string actor, string reason) => SetFrozenAsync(false, actor, reason);

    public Task<FleetStatus> GetFleetStatusAsync() => Task.FromResult(state.State.Fleet);

    private async Task<FleetStatus> SetFrozenAsync(bool frozen, string actor, string reason)
    {
        var s = state.State;
        if (s.Fleet.Frozen != frozen)
        {
            s.Fleet = new FleetStatus(frozen, actor, reason, clock.UtcNow);
            s.SnapshotVersion++;
            await CommitAsync();
            RolloutMetrics.FleetFreeze(frozen);
        }

        // A repeat keeps who froze it and why, and pushes the snapshot again.
        await PushAsync();
        return s.Fleet;
    }

    public Task<ImmutableArray<string>> ListAsync(CampaignState? filter) =>
        Task.FromResult(Enumerable.Reverse(state.State.Order)
            .Where(id => filter is null || state.State.States[id] == filter)
            .ToImmutableArray());

    public Task<CampaignSnapshot?> PollAsync(long knownVersion, ISnapshotObserver? observer)
    {
        if (observer is not null)
        {
            _observers[observer] = TimeProvider.System.GetUtcNow() + SubscriptionLifetime;
        }

        var snapshot = _published;
        return Task.FromResult(snapshot.Version > knownVersion ? snapshot : null);
    }

    /// <summary>
    /// A delta of the campaign's target version for one of the same models; a server-generated one must also produce
    /// exactly the target's image.
    /// </summary>
    public static bool IsDeltaOf(PackageRecord delta, ModelTarget target) =>
        delta.Manifest.Kind == PackageKind.Delta
        && FirmwareVersion.Parse(delta.Manifest.Version) == FirmwareVersion.Parse(target.Full.Manifest.Version)
        && (delta.Manifest.TargetSha256 is null || delta.Manifest.TargetSha256 == target.Full.Manifest.Sha256)
        && target.Deltas.All(d => d.PackageId != delta.PackageId);

    private static CampaignSnapshot SnapshotOf(CampaignDirectoryState s) =>
        new(s.SnapshotVersion, [.. s.Running.Values.OrderBy(c => c.CampaignId, StringComparer.Ordinal)])
        {
            Frozen = s.Fleet.Frozen,
            // Transport timing, as the pushes: real time, so silos measure the publish latency on the same clock.
            PublishedAt = TimeProvider.System.GetUtcNow(),
        };

    /// <summary>
    /// Stores the state, then makes it what polls and pushes hand out. A failed write drops this activation, so the
    /// next call starts from what storage holds (its unstored change, and its version number, are gone with it).
    /// </summary>
    private async Task CommitAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            this.DeactivateOnIdle();
            throw;
        }

        _published = SnapshotOf(state.State);
    }

    private async Task PushAsync()
    {
        var snapshot = _published;
        var now = TimeProvider.System.GetUtcNow();
        foreach (var expired in _observers.Where(o => o.Value < now).Select(o => o.Key).ToList())
        {
            _observers.Remove(expired);
        }

        // Push to every silo at once and wait (bounded) so that, when a change is acknowledged, the caches have it.
        // A silo that misses the push catches up by its poll.
        var pushes = _observers.Keys.ToList().Select(async observer =>
        {
            try
            {
                await observer.OnSnapshotAsync(snapshot).WaitAsync(PushTimeout);
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Snapshot {Version} push failed; that silo will poll for it", snapshot.Version);
            }
        });
        await Task.WhenAll(pushes);
    }
}
