using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace ZteRollout.Shared.Campaigns;

/// <summary>
/// Places a device in one of <see cref="BucketCount"/> buckets of a campaign (invariant 8): the bucket depends only on
/// the campaign's salt and the device id, so every silo and every restart gives the same answer, and a stage at p %
/// exposes buckets below p × 100, so raising the percentage only adds devices. A cryptographic hash keeps buckets
/// uniform whatever the id scheme, and a per-campaign salt keeps one campaign's canaries from being the next one's.
/// </summary>
public static class Bucketing
{
    public const int BucketCount = 10_000;

    private const int StackBufferBytes = 256;

    /// <summary>The first 8 bytes (big-endian) of SHA-256(UTF-8 of salt + "\n" + deviceId), modulo <see cref="BucketCount"/>.</summary>
    public static int BucketOf(string salt, string deviceId)
    {
        // Encoding the parts apart equals encoding the concatenation: the '\n' between them means no surrogate pair spans two parts.
        var maxBytes = Encoding.UTF8.GetMaxByteCount(salt.Length) + 1 + Encoding.UTF8.GetMaxByteCount(deviceId.Length);
        byte[]? rented = null;
        var buffer = maxBytes <= StackBufferBytes ? stackalloc byte[StackBufferBytes] : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            var length = Encoding.UTF8.GetBytes(salt, buffer);
            buffer[length++] = (byte)'\n';
            length += Encoding.UTF8.GetBytes(deviceId, buffer[length..]);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(buffer[..length], hash);

            // 2^64 is not a multiple of 10,000; the resulting bias is below 10,000 / 2^64 per bucket, far below anything measurable.
            return (int)(BinaryPrimitives.ReadUInt64BigEndian(hash) % BucketCount);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Whether a device in <paramref name="bucket"/> is exposed at a cumulative <paramref name="cumulativePercent"/>.</summary>
    public static bool IsExposed(int bucket, double cumulativePercent) => bucket < ExposedBucketLimit(cumulativePercent);

    /// <summary>
    /// The number of buckets exposed at a percentage: round(percent × 100), halves away from zero, clamped to
    /// [0, <see cref="BucketCount"/>]; so 0.01 % is one bucket and a stage below 0.005 % exposes nobody.
    /// </summary>
    internal static int ExposedBucketLimit(double cumulativePercent) =>
        double.IsNaN(cumulativePercent)
            ? 0
            : (int)Math.Clamp(Math.Round(cumulativePercent * 100, MidpointRounding.AwayFromZero), 0, BucketCount);
}
