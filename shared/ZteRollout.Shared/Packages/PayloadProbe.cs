namespace ZteRollout.Shared.Packages;

/// <summary>
/// Whether an image looks compressed, from its first bytes: a compressor's magic number, or near-random bytes.
/// A delta between two compressed images is about as large as the image (measured: 97 % for an xz kernel), so such
/// uploads get a warning and no delta.
/// </summary>
public static class PayloadProbe
{
    /// <summary>How many leading bytes the probe reads.</summary>
    public const int SampleBytes = 1024 * 1024;

    /// <summary>Above this many bits per byte a sample is taken for compressed or encrypted data.</summary>
    public const double HighEntropyBitsPerByte = 7.9;

    private static readonly (string Name, byte[] Magic)[] Magics =
    [
        ("xz", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]),
        ("gzip", [0x1F, 0x8B]),
        ("zstd", [0x28, 0xB5, 0x2F, 0xFD]),
        ("bzip2", [0x42, 0x5A, 0x68]),
        ("lz4", [0x04, 0x22, 0x4D, 0x18]),
    ];

    /// <summary>Why the sample looks compressed ("gzip magic", "high entropy: 7.99 bits/byte"), or null.</summary>
    public static string? CompressedReason(ReadOnlySpan<byte> sample)
    {
        foreach (var (name, magic) in Magics)
        {
            if (sample.StartsWith(magic))
            {
                return $"{name} magic";
            }
        }

        // Tiny samples say little about entropy: 4 KiB of text can look random to a byte histogram.
        if (sample.Length < 4096)
        {
            return null;
        }

        var entropy = BitsPerByte(sample);
        return entropy > HighEntropyBitsPerByte
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"high entropy: {entropy:0.00} bits/byte")
            : null;
    }

    /// <summary>The warning an upload gets when its image looks compressed, or null.</summary>
    public static string? UploadWarning(ReadOnlySpan<byte> sample) =>
        CompressedReason(sample) is { } reason
            ? $"the image looks compressed ({reason}): deltas will not help; upload the uncompressed image so devices on older versions download a delta"
            : null;

    /// <summary>Shannon entropy of the byte histogram.</summary>
    public static double BitsPerByte(ReadOnlySpan<byte> sample)
    {
        Span<long> counts = stackalloc long[256];
        foreach (var b in sample)
        {
            counts[b]++;
        }

        double bits = 0;
        foreach (var count in counts)
        {
            if (count > 0)
            {
                var p = (double)count / sample.Length;
                bits -= p * Math.Log2(p);
            }
        }

        return bits;
    }
}
