using System.Collections.Immutable;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Shared;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Silo.Campaigns;

namespace ZteRollout.Tests.Domain;

/// <summary>
/// The per-silo token bucket behind a campaign's offer rate limit: limit ÷ active silos per silo, a burst of one
/// second's worth (at least one token), and a ramp that doubles from the initial rate. Driven by a fake clock.
/// </summary>
public sealed class OfferRateLimiterTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 3, 10, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _clock = new(Start);

    private static ActiveCampaign Campaign(string id, RateLimit? limit) =>
        new(id, 0, Eligibility.Everyone, TimeSpan.FromHours(1), ImmutableDictionary<string, ModelTarget>.Empty)
        {
            RateLimit = limit,
            RampStartedAt = Start,
        };

    private OfferRateLimiter Limiter(int activeSilos, params SiloStatus[] others) =>
        new(new RolloutClock(_clock), new FixedMembership([.. Enumerable.Repeat(SiloStatus.Active, activeSilos), .. others]));

    private static bool[] Take(OfferRateLimiter limiter, ActiveCampaign campaign, int times) =>
        [.. Enumerable.Range(0, times).Select(_ => limiter.TryAcquire(campaign))];

    [Fact]
    public void LimitPerMinute_WithoutRamp_IsTheMaximumAtAnyTime()
    {
        var limit = new RateLimit(600, null, null);

        Assert.Equal(600, OfferRateLimiter.LimitPerMinute(limit, Start, Start));
        Assert.Equal(600, OfferRateLimiter.LimitPerMinute(limit, Start, Start.AddDays(3)));
        Assert.Equal(600, OfferRateLimiter.LimitPerMinute(new RateLimit(600, 10, TimeSpan.Zero), Start, Start));
    }

    [Fact]
    public void LimitPerMinute_WithRamp_StartsAtTheInitialRateAndDoublesEveryInterval_UpToTheMaximum()
    {
        var limit = new RateLimit(1000, 100, TimeSpan.FromMinutes(1));

        Assert.Equal(100, OfferRateLimiter.LimitPerMinute(limit, Start, Start.AddSeconds(-30)));
        Assert.Equal(100, OfferRateLimiter.LimitPerMinute(limit, Start, Start));
        Assert.Equal(100 * Math.Pow(2, 1.5), OfferRateLimiter.LimitPerMinute(limit, Start, Start.AddSeconds(90)));
        Assert.Equal(200, OfferRateLimiter.LimitPerMinute(limit, Start, Start.AddMinutes(1)));
        Assert.Equal(800, OfferRateLimiter.LimitPerMinute(limit, Start, Start.AddMinutes(3)));
        Assert.Equal(1000, OfferRateLimiter.LimitPerMinute(limit, Start, Start.AddMinutes(4)));
        Assert.Equal(1000, OfferRateLimiter.LimitPerMinute(limit, Start, Start.AddYears(100)));
    }

    [Fact]
    public void TryAcquire_CampaignWithoutLimit_AlwaysGrants()
    {
        var limiter = Limiter(activeSilos: 1);

        Assert.All(Take(limiter, Campaign("free", null), 10_000), Assert.True);
    }

    [Fact]
    public void TryAcquire_OneSilo_GrantsOneAtFirst_ThenRefillsAtTheRate_WithABurstOfOneSecond()
    {
        var limiter = Limiter(activeSilos: 1);
        var campaign = Campaign("c", new RateLimit(120, null, null)); // 2 offers per second

        var first = Take(limiter, campaign, 2);
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        var halfSecondLater = Take(limiter, campaign, 2);
        _clock.Advance(TimeSpan.FromSeconds(10));
        var afterIdling = Take(limiter, campaign, 3);

        Assert.Equal([true, false], first);
        Assert.Equal([true, false], halfSecondLater);
        Assert.Equal([true, true, false], afterIdling);
    }

    [Fact]
    public void TryAcquire_TwoActiveSilos_EachGrantsHalfTheLimit_SilosNotActiveDoNotCount()
    {
        var limiter = Limiter(activeSilos: 2, SiloStatus.Joining, SiloStatus.ShuttingDown, SiloStatus.Dead);
        var campaign = Campaign("c", new RateLimit(120, null, null)); // 1 offer per second on each of the 2 silos

        var first = Take(limiter, campaign, 2);
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        var halfSecondLater = Take(limiter, campaign, 1);
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        var oneSecondLater = Take(limiter, campaign, 2);
        _clock.Advance(TimeSpan.FromSeconds(10));
        var afterIdling = Take(limiter, campaign, 2);

        Assert.Equal([true, false], first);
        Assert.Equal([false], halfSecondLater);
        Assert.Equal([true, false], oneSecondLater);
        Assert.Equal([true, false], afterIdling);
    }

    [Fact]
    public void TryAcquire_LimitBelowOnePerSecond_StillGrantsWholeOffers()
    {
        var limiter = Limiter(activeSilos: 1);
        var campaign = Campaign("slow", new RateLimit(30, null, null)); // one offer every 2 seconds

        var first = Take(limiter, campaign, 2);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var oneSecondLater = Take(limiter, campaign, 1);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var twoSecondsLater = Take(limiter, campaign, 2);

        Assert.Equal([true, false], first);
        Assert.Equal([false], oneSecondLater);
        Assert.Equal([true, false], twoSecondsLater);
    }

    [Fact]
    public void TryAcquire_EachCampaignHasItsOwnBucket()
    {
        var limiter = Limiter(activeSilos: 1);
        var limit = new RateLimit(60, null, null);

        var a = Take(limiter, Campaign("a", limit), 2);
        var b = Take(limiter, Campaign("b", limit), 2);

        Assert.Equal([true, false], a);
        Assert.Equal([true, false], b);
    }

    [Fact]
    public void TryAcquire_WithRamp_GrantsMoreOnceTheLimitHasDoubled()
    {
        var limiter = Limiter(activeSilos: 1);
        var campaign = Campaign("ramp", new RateLimit(480, 60, TimeSpan.FromMinutes(1))); // 1/s, then 2/s, 4/s, 8/s

        var atStart = Take(limiter, campaign, 2);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var oneSecondIn = Take(limiter, campaign, 2);
        _clock.Advance(TimeSpan.FromSeconds(119)); // two doublings: 240 per minute, a burst of 4
        var twoMinutesIn = Take(limiter, campaign, 5);
        _clock.Advance(TimeSpan.FromMinutes(10)); // capped at 480 per minute: a burst of 8
        var atTheCap = Take(limiter, campaign, 9);

        Assert.Equal([true, false], atStart);
        Assert.Equal([true, false], oneSecondIn);
        Assert.Equal([true, true, true, true, false], twoMinutesIn);
        Assert.Equal([.. Enumerable.Repeat(true, 8), false], atTheCap);
    }

    /// <summary>A membership view that never changes: the silos' statuses, as the limiter reads them.</summary>
    private sealed class FixedMembership(IReadOnlyList<SiloStatus> statuses) : IClusterMembershipService
    {
        public ClusterMembershipSnapshot CurrentSnapshot { get; } = new(
            statuses.Select((status, i) => (Address: SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111 + i), 1), Status: status))
                .ToImmutableDictionary(s => s.Address, s => new ClusterMember(s.Address, s.Status, $"silo-{s.Address.Endpoint.Port}")),
            new MembershipVersion(1));

        public IAsyncEnumerable<ClusterMembershipSnapshot> MembershipUpdates => throw new NotSupportedException();

        public ValueTask Refresh(MembershipVersion minimumVersion = default, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public Task<bool> TryKill(SiloAddress siloAddress) => throw new NotSupportedException();
    }
}
