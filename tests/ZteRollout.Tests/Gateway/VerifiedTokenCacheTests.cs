using Microsoft.Extensions.Time.Testing;
using ZteRollout.Gateway.Auth;

namespace ZteRollout.Tests.Gateway;

/// <summary>The gateway's memory of verified device tokens: fixed trust period, never extended by use, bounded.</summary>
public sealed class VerifiedTokenCacheTests
{
    private static AuthenticatedDevice Device(string id) => new(id, null!);

    [Fact]
    public void AToken_IsTrustedForItsPeriodFromVerification_NotExtendedByUse()
    {
        var clock = new FakeTimeProvider();
        var cache = new VerifiedTokenCache(TimeSpan.FromSeconds(60), 100, clock);
        cache.Remember("Bearer t1", Device("d1"));

        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal("d1", cache.Find("Bearer t1")?.DeviceId);

        // Used a moment ago, yet its period ends 60 s after it was verified.
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(cache.Find("Bearer t1"));
        Assert.Equal(0, cache.Count);
        Assert.Null(cache.Find("Bearer unknown"));
    }

    [Fact]
    public void AtCapacity_NothingNewIsRemembered_UntilExpiredEntriesAreSwept()
    {
        var clock = new FakeTimeProvider();
        var cache = new VerifiedTokenCache(TimeSpan.FromSeconds(60), 2, clock);
        cache.Remember("Bearer a", Device("a"));
        cache.Remember("Bearer b", Device("b"));
        cache.Remember("Bearer c", Device("c"));

        Assert.Equal(2, cache.Count);
        Assert.Null(cache.Find("Bearer c"));

        clock.Advance(TimeSpan.FromSeconds(61));
        cache.Remember("Bearer c", Device("c"));
        Assert.Equal(1, cache.Count);
        Assert.Equal("c", cache.Find("Bearer c")?.DeviceId);
    }

    [Fact]
    public void AZeroTrustPeriod_RemembersNothing()
    {
        var cache = new VerifiedTokenCache(TimeSpan.Zero, 100, new FakeTimeProvider());
        cache.Remember("Bearer a", Device("a"));
        Assert.Null(cache.Find("Bearer a"));
    }
}
