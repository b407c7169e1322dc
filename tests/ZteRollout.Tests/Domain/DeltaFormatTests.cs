using ZteRollout.Shared.Packages;
using ZteRollout.Tests.Packages;

namespace ZteRollout.Tests.Domain;

/// <summary>The zstd-patch-1 codec, its window rule and the compressed-payload probe, without a server.</summary>
public sealed class DeltaFormatTests
{
    [Theory]
    [InlineData(1L, 10)]
    [InlineData(1_048_575L, 20)]
    [InlineData(1_048_576L, 21)]
    [InlineData(102_760_448L, 27)]
    [InlineData((1L << 31) - 1, 31)]
    [InlineData(1L << 31, 32)]
    public void WindowLog_IsTheHighestBitOfTheLargerImagePlusOne(long size, int expected)
    {
        Assert.Equal(expected, ZstdPatch.WindowLogFor(size / 2, size));
        Assert.Equal(expected, ZstdPatch.WindowLogFor(size, 1));
    }

    [Fact]
    public void GenerationMemoryEstimate_HoldsTheBaseAndTheWindow()
    {
        const long baseSize = 96L << 20;
        var estimate = ZstdPatch.EstimateGenerationBytes(baseSize, 27);
        Assert.InRange(estimate, baseSize + (1L << 27), baseSize + (2L << 30));
        Assert.True(ZstdPatch.EstimateGenerationBytes(baseSize, 28) > estimate);
    }

    [Fact]
    public void Patch_AppliedToItsBase_GivesTheTarget_AndToAnotherBase_FailsItsChecksum()
    {
        var (v1, v2) = DeltaGenerationTests.ImagePair(seed: 11);
        var windowLog = ZstdPatch.WindowLogFor(v1.Length, v2.Length);
        using var patch = new MemoryStream();
        var progress = new List<long>();
        ZstdPatch.Create(v1, new MemoryStream(v2), v2.Length, patch, windowLog, progress.Add);
        Assert.Equal([1L << 20, v2.Length], progress);

        using var applied = new MemoryStream();
        ZstdPatch.Apply(v1, new MemoryStream(patch.ToArray()), applied, windowLog);
        Assert.Equal(v2, applied.ToArray());
        Assert.Equal(v2, DeltaGenerationTests.StockZstdApply(v1, patch.ToArray(), windowLog));

        var otherBase = (byte[])v1.Clone();
        otherBase[1000] ^= 1;
        Assert.Throws<InvalidDataException>(() => ZstdPatch.Apply(otherBase, new MemoryStream(patch.ToArray()), new MemoryStream(), windowLog));
    }

    [Fact]
    public void Probe_NamesCompressorMagic_AndHighEntropy_ButNotFirmwareLikeBytes()
    {
        var (image, _) = DeltaGenerationTests.ImagePair(seed: 12);
        Assert.Null(PayloadProbe.CompressedReason(image));
        Assert.Equal("xz magic", PayloadProbe.CompressedReason([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 1, 2]));
        Assert.Equal("zstd magic", PayloadProbe.CompressedReason([0x28, 0xB5, 0x2F, 0xFD, 0]));
        var random = new byte[64 * 1024];
        new Random(7).NextBytes(random);
        random[0] = 0x7F;
        Assert.Matches(@"^high entropy: [78]\.\d\d bits/byte$", PayloadProbe.CompressedReason(random));
        Assert.True(PayloadProbe.BitsPerByte(random) > PayloadProbe.HighEntropyBitsPerByte);
    }
}
