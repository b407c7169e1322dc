using ZteRollout.Shared.Campaigns;

namespace ZteRollout.Tests.Domain;

/// <summary>Invariant 8: a device's bucket depends only on (salt, device id); raising a percentage only adds devices.</summary>
public sealed class BucketingTests
{
    private const int FleetSize = 100_000;
    private const string Salt = "campaign-bucketing-tests";

    /// <summary>
    /// The 0.999 quantile of the chi-square distribution with 99 degrees of freedom (100 groups − 1), found by solving
    /// P(χ²₉₉ ≤ x) = 0.999 with the regularized lower incomplete gamma function, P(k/2, x/2), to 30 digits
    /// (148.2303591651017…). Wilson–Hilferty's approximation, 99·(1 − 2/891 + 3.0902·√(2/891))³ = 148.29, agrees.
    /// A uniform hash exceeds it once in a thousand salts; this salt and these ids are fixed, so the test is deterministic.
    /// </summary>
    private const double ChiSquare999With99DegreesOfFreedom = 148.2304;

    [Fact]
    public void BucketOf_KnownSaltAndDevice_IsFirstEightBytesOfSha256ModuloBucketCount()
    {
        // Computed once, independently: int.from_bytes(sha256(b"campaign-1\ndevice-42").digest()[:8], "big") % 10000.
        var bucket = Bucketing.BucketOf("campaign-1", "device-42");

        Assert.Equal(7043, bucket);
    }

    [Fact]
    public void BucketOf_NonAsciiSalt_HashesUtf8()
    {
        // sha256("zteé\nd-0".encode("utf-8")): 'é' is two bytes in UTF-8, one in Latin-1, so another encoding gives another bucket.
        var bucket = Bucketing.BucketOf("zte\u00e9", "d-0");

        Assert.Equal(136, bucket);
    }

    [Fact]
    public void BucketOf_SaltLongerThanStackBuffer_HashesTheSameWay()
    {
        // int.from_bytes(sha256(("s" * 300 + "\ndevice-42").encode()).digest()[:8], "big") % 10000: a pooled buffer, same rule.
        var bucket = Bucketing.BucketOf(new string('s', 300), "device-42");

        Assert.Equal(7771, bucket);
    }

    [Theory]
    [InlineData(0, 0.01, true)]
    [InlineData(1, 0.01, false)]
    [InlineData(99, 1, true)]
    [InlineData(100, 1, false)]
    [InlineData(3332, 33.33, true)]
    [InlineData(3333, 33.33, false)]
    [InlineData(0, 0.004, false)]
    [InlineData(0, 0, false)]
    [InlineData(9999, 100, true)]
    public void IsExposed_Boundaries_BucketBelowRoundedPercentTimesHundred(int bucket, double percent, bool expected)
    {
        var exposed = Bucketing.IsExposed(bucket, percent);

        Assert.Equal(expected, exposed);
    }

    [Fact]
    public void IsExposed_RaisingPercent_OnlyAddsDevices()
    {
        double[] percents = [0, 0.01, 0.5, 1, 5, 25, 33.33, 50, 99.99, 100];
        var buckets = Buckets(Salt);

        var exposedCounts = new List<int>();
        var violations = 0;
        foreach (var bucket in buckets)
        {
            for (var i = 1; i < percents.Length; i++)
            {
                if (Bucketing.IsExposed(bucket, percents[i - 1]) && !Bucketing.IsExposed(bucket, percents[i]))
                {
                    violations++;
                }
            }
        }

        foreach (var percent in percents)
        {
            exposedCounts.Add(buckets.Count(b => Bucketing.IsExposed(b, percent)));
        }

        Assert.Equal(0, violations);
        Assert.Equal(0, exposedCounts[0]);
        Assert.Equal(FleetSize, exposedCounts[^1]);
        Assert.Equal(exposedCounts.Order(), exposedCounts);
    }

    [Fact]
    public void BucketOf_HundredThousandIds_UniformOverHundredGroups()
    {
        var buckets = Buckets(Salt);
        var groups = new int[100];
        foreach (var bucket in buckets)
        {
            groups[bucket / (Bucketing.BucketCount / groups.Length)]++;
        }

        const double expected = (double)FleetSize / 100;
        var chiSquare = groups.Sum(observed => (observed - expected) * (observed - expected) / expected);

        Assert.True(chiSquare < ChiSquare999With99DegreesOfFreedom,
            $"chi-square {chiSquare:F2} ≥ {ChiSquare999With99DegreesOfFreedom} (99 degrees of freedom, p < 0.001)");
    }

    [Fact]
    public void BucketOf_DifferentSalts_AssignDifferentBuckets()
    {
        var a = Buckets("campaign-a");
        var b = Buckets("campaign-b");

        var sameBucket = Enumerable.Range(0, FleetSize).Count(i => a[i] == b[i]);
        var exposedInA = Enumerable.Range(0, FleetSize).Where(i => Bucketing.IsExposed(a[i], 10)).ToArray();
        var alsoExposedInB = exposedInA.Count(i => Bucketing.IsExposed(b[i], 10));

        // Independent salts: 1 in 10,000 ids shares its bucket (about 10 here), and a 10 % stage of one campaign
        // overlaps the other's in about 10 % of its devices (±0.3 % standard deviation over about 10,000 devices).
        Assert.InRange(sameBucket, 0, 40);
        Assert.InRange((double)alsoExposedInB / exposedInA.Length, 0.09, 0.11);
    }

    private static int[] Buckets(string salt) =>
        [.. Enumerable.Range(0, FleetSize).Select(i => Bucketing.BucketOf(salt, $"d-{i}"))];
}
