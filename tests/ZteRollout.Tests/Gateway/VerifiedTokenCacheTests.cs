using Microsoft.Extensions.Time.Testing;
using ZteRollout.Gateway.Auth;

namespace ZteRollout.Tests.Gateway;

/// <summary>The gateway's memory of verified device tokens: by token, fixed trust period, bounded in entries and bytes.</summary>
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
        Assert.Equal(0, cache.Bytes);
        Assert.Null(cache.Find("Bearer unknown"));
    }

    [Fact]
    public void HeaderVariantsOfOneToken_AreOneEntry()
    {
        var cache = new VerifiedTokenCache(TimeSpan.FromSeconds(60), 100, new FakeTimeProvider());
        string[] variants = ["Bearer t1", "bearer t1", "BEARER t1", "Bearer    t1", "Bearer\tt1", "  Bearer t1  ", "t1"];

        foreach (var header in variants)
        {
            cache.Remember(header, Device("d1"));
        }

        Assert.Equal(1, cache.Count);
        Assert.All(variants, header => Assert.Equal("d1", cache.Find(header)?.DeviceId));
        Assert.Equal("d1", cache.FindToken("t1")?.DeviceId);
    }

    [Fact]
    public void AtCapacity_TheOldestEntryMakesRoom()
    {
        var clock = new FakeTimeProvider();
        var cache = new VerifiedTokenCache(TimeSpan.FromSeconds(60), 2, clock);
        cache.Remember("Bearer a", Device("a"));
        clock.Advance(TimeSpan.FromSeconds(1));
        cache.Remember("Bearer b", Device("b"));
        cache.Remember("Bearer c", Device("c"));

        Assert.Equal(2, cache.Count);
        Assert.Null(cache.Find("Bearer a"));
        Assert.Equal("b", cache.Find("Bearer b")?.DeviceId);
        Assert.Equal("c", cache.Find("Bearer c")?.DeviceId);
    }

    [Fact]
    public void OverItsBytes_TheOldestEntriesMakeRoom()
    {
        // Each entry: overhead + 2 bytes a character of the token (20) and of the device id (2).
        var entryBytes = BoundedTokenCache<AuthenticatedDevice>.EntryOverheadBytes + (2 * 20) + (2 * 2);
        var cache = new VerifiedTokenCache(TimeSpan.FromSeconds(60), 1000, 3 * entryBytes, new FakeTimeProvider());

        for (var i = 0; i < 10; i++)
        {
            cache.Remember($"Bearer token-{i:D14}", Device($"d{i}"));
        }

        Assert.Equal(3, cache.Count);
        Assert.Equal(3 * entryBytes, cache.Bytes);
        Assert.Equal(["d7", "d8", "d9"], Enumerable.Range(0, 10).Select(i => cache.Find($"token-{i:D14}")?.DeviceId).OfType<string>());
    }

    [Fact]
    public void ReRememberingAToken_ReplacesItsEntry_AndCountsItOnce()
    {
        var clock = new FakeTimeProvider();
        var cache = new VerifiedTokenCache(TimeSpan.FromSeconds(60), 2, clock);
        cache.Remember("Bearer a", Device("a1"));
        clock.Advance(TimeSpan.FromSeconds(30));
        cache.Remember("Bearer a", Device("a2"));
        cache.Remember("Bearer b", Device("b"));

        // The first entry's queue slot is stale; it does not evict the live entry, nor count.
        Assert.Equal(2, cache.Count);
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal("a2", cache.Find("Bearer a")?.DeviceId);
        Assert.Equal("b", cache.Find("Bearer b")?.DeviceId);
    }

    [Fact]
    public void AZeroTrustPeriod_RemembersNothing()
    {
        var cache = new VerifiedTokenCache(TimeSpan.Zero, 100, new FakeTimeProvider());
        cache.Remember("Bearer a", Device("a"));
        Assert.Null(cache.Find("Bearer a"));
        Assert.Equal(0, cache.Count);
    }
}
