using System.Collections.Concurrent;
using Orleans.Runtime;
using ZteRollout.Shared;
using ZteRollout.Shared.Campaigns;

namespace ZteRollout.Silo.Campaigns;

/// <summary>
/// A campaign's offer rate limit, enforced without a shared counter: each silo runs a token bucket at
/// limit ÷ active silos, so the cluster as a whole stays at the limit and check-ins never wait on another grain.
/// With a ramp the limit starts low and doubles at a fixed interval up to the maximum.
/// </summary>
public sealed class OfferRateLimiter(RolloutClock clock, IClusterMembershipService membership)
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    /// <summary>The cluster-wide limit, offers per minute, at <paramref name="now"/>.</summary>
    public static double LimitPerMinute(RateLimit limit, DateTimeOffset rampStartedAt, DateTimeOffset now)
    {
        if (limit.InitialOffersPerMinute is not { } initial || limit.RampDoublingTime is not { } doubling || doubling <= TimeSpan.Zero)
        {
            return limit.MaxOffersPerMinute;
        }

        var doublings = Math.Max(0, (now - rampStartedAt) / doubling);
        return Math.Min(limit.MaxOffersPerMinute, initial * Math.Pow(2, Math.Min(doublings, 62)));
    }

    public bool TryAcquire(ActiveCampaign campaign) => Check(campaign, take: true);

    /// <summary>Whether <see cref="TryAcquire"/> would let an offer through now, without taking its token (for explanations).</summary>
    public bool HasRoom(ActiveCampaign campaign) => Check(campaign, take: false);

    private bool Check(ActiveCampaign campaign, bool take)
    {
        if (campaign.RateLimit is not { } limit)
        {
            return true;
        }

        var silos = Math.Max(1, membership.CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active));
        var now = clock.UtcNow;
        var perSecond = LimitPerMinute(limit, campaign.RampStartedAt, now) / 60.0 / silos;
        var bucket = _buckets.GetOrAdd(campaign.CampaignId, _ => new Bucket(now));
        return bucket.TryTake(now, perSecond, take);
    }

    /// <summary>Tokens refill continuously; the burst is one second's worth (at least one token).</summary>
    private sealed class Bucket(DateTimeOffset now)
    {
        private readonly Lock _gate = new();
        private DateTimeOffset _updated = now;
        private double _tokens = 1;

        public bool TryTake(DateTimeOffset now, double perSecond, bool take)
        {
            lock (_gate)
            {
                var capacity = Math.Max(1, perSecond);
                var elapsed = Math.Max(0, (now - _updated).TotalSeconds);
                _tokens = Math.Min(capacity, _tokens + (elapsed * perSecond));
                _updated = now;
                if (_tokens < 1)
                {
                    return false;
                }

                _tokens -= take ? 1 : 0;
                return true;
            }
        }
    }
}
