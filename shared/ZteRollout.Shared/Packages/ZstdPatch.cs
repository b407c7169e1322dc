using ZstdSharp.Unsafe;

namespace ZteRollout.Shared.Packages;

/// <summary>
/// The <c>zstd-patch-1</c> delta format: one zstd frame that decompresses to the target image when the base image is
/// given as the frame's reference prefix (zstd's <c>--patch-from</c>). Stock zstd applies it:
/// <c>zstd -d --long=W --patch-from=BASE DELTA -o TARGET</c>. Made at level 22 with long-distance matching, a window
/// of <see cref="WindowLogFor"/> and a content checksum, so a corrupt patch or a wrong base fails loudly
/// (docs/manifest.md, "Delta packages").
/// </summary>
/// <remarks>
/// A reference prefix, not a dictionary: a dictionary loses long-distance matching and the patch of a kernel grows
/// from about 1 % to about 13 % of the image. The prefix must stay pinned in memory for the whole frame.
/// </remarks>
public static unsafe class ZstdPatch
{
    public const string Format = "zstd-patch-1";
    public const int Level = 22;

    /// <summary>zstd's largest window on 64-bit builds: 2 GiB. A larger image cannot be patched in one frame.</summary>
    public const int MaxWindowLog = 31;

    private const int MinWindowLog = 10;
    private const int ChunkBytes = 1024 * 1024;

    /// <summary>
    /// The window for a pair: the index of the highest set bit of the larger image's size, plus one, so the window
    /// (2^log bytes) covers the whole image (as zstd's <c>--patch-from</c> chooses it).
    /// </summary>
    public static int WindowLogFor(long baseSize, long targetSize)
    {
        var size = Math.Max(1, Math.Max(baseSize, targetSize));
        return Math.Max(MinWindowLog, 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)size));
    }

    /// <summary>
    /// Memory one generation needs: the pinned base image plus zstd's streaming compressor at these parameters
    /// (window buffer and match tables as zstd itself estimates them, plus the long-distance matcher).
    /// </summary>
    public static long EstimateGenerationBytes(long baseSize, int windowLog)
    {
        var parameters = Methods.ZSTD_createCCtxParams();
        try
        {
            Check(Methods.ZSTD_CCtxParams_setParameter(parameters, ZSTD_cParameter.ZSTD_c_compressionLevel, Level));
            Check(Methods.ZSTD_CCtxParams_setParameter(parameters, ZSTD_cParameter.ZSTD_c_windowLog, windowLog));

            // The long-distance matcher is left out of zstd's estimate (estimating with it enabled divides by its
            // not-yet-derived parameters): its hash table is 2^(windowLog - 7) entries of 8 bytes, plus buckets and
            // sequences; 2^(windowLog - 3) bytes is a safe ceiling.
            return baseSize + (long)Methods.ZSTD_estimateCStreamSize_usingCCtxParams(parameters) + (1L << (windowLog - 3));
        }
        finally
        {
            Methods.ZSTD_freeCCtxParams(parameters);
        }
    }

    /// <summary>
    /// Writes the patch that turns <paramref name="baseImage"/> into the bytes of <paramref name="target"/> (read to its
    /// end, <paramref name="targetSize"/> bytes) to <paramref name="patch"/>. CPU-bound and synchronous: run it off
    /// any scheduler that must stay responsive. <paramref name="progress"/> gets the target bytes consumed so far.
    /// </summary>
    public static void Create(byte[] baseImage, Stream target, long targetSize, Stream patch, int windowLog,
        Action<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (windowLog > MaxWindowLog)
        {
            throw new ArgumentOutOfRangeException(nameof(windowLog), windowLog, $"zstd windows end at log {MaxWindowLog} (2 GiB)");
        }

        var input = new byte[ChunkBytes];
        var output = new byte[(int)Methods.ZSTD_CStreamOutSize() * 4];
        var cctx = Methods.ZSTD_createCCtx();
        try
        {
            Check(Methods.ZSTD_CCtx_setParameter(cctx, ZSTD_cParameter.ZSTD_c_compressionLevel, Level));
            Check(Methods.ZSTD_CCtx_setParameter(cctx, ZSTD_cParameter.ZSTD_c_windowLog, windowLog));
            Check(Methods.ZSTD_CCtx_setParameter(cctx, ZSTD_cParameter.ZSTD_c_enableLongDistanceMatching, 1));
            Check(Methods.ZSTD_CCtx_setParameter(cctx, ZSTD_cParameter.ZSTD_c_checksumFlag, 1));
            Check(Methods.ZSTD_CCtx_setPledgedSrcSize(cctx, (ulong)targetSize));
            fixed (byte* prefix = baseImage)
            fixed (byte* inputPointer = input)
            fixed (byte* outputPointer = output)
            {
                // The prefix is referenced, not copied: it applies to the next frame only and must outlive it.
                Check(Methods.ZSTD_CCtx_refPrefix(cctx, prefix, (nuint)baseImage.Length));
                long consumed = 0;
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var read = target.ReadAtLeast(input, input.Length, throwOnEndOfStream: false);
                    var last = read < input.Length;
                    var inBuffer = new ZSTD_inBuffer_s { src = inputPointer, size = (nuint)read, pos = 0 };
                    nuint remaining;
                    do
                    {
                        var outBuffer = new ZSTD_outBuffer_s { dst = outputPointer, size = (nuint)output.Length, pos = 0 };
                        remaining = Check(Methods.ZSTD_compressStream2(cctx, &outBuffer, &inBuffer,
                            last ? ZSTD_EndDirective.ZSTD_e_end : ZSTD_EndDirective.ZSTD_e_continue));
                        patch.Write(output, 0, (int)outBuffer.pos);
                    }
                    while (last ? remaining != 0 : inBuffer.pos < inBuffer.size);

                    consumed += read;
                    progress?.Invoke(consumed);
                    if (last)
                    {
                        break;
                    }
                }

                if (consumed != targetSize)
                {
                    throw new InvalidDataException($"target image has {consumed} bytes, expected {targetSize}");
                }
            }
        }
        finally
        {
            Methods.ZSTD_freeCCtx(cctx);
        }
    }

    /// <summary>
    /// Applies a patch to <paramref name="baseImage"/>, writing the target image to <paramref name="target"/>.
    /// Throws <see cref="InvalidDataException"/> when the patch is corrupt or does not belong to this base
    /// (zstd's checksum over the output fails).
    /// </summary>
    public static void Apply(byte[] baseImage, Stream patch, Stream target, int windowLog, CancellationToken cancellationToken = default)
    {
        var input = new byte[(int)Methods.ZSTD_DStreamInSize()];
        var output = new byte[(int)Methods.ZSTD_DStreamOutSize()];
        var dctx = Methods.ZSTD_createDCtx();
        try
        {
            Check(Methods.ZSTD_DCtx_setParameter(dctx, ZSTD_dParameter.ZSTD_d_windowLogMax, Math.Max(windowLog, 27)));
            fixed (byte* prefix = baseImage)
            fixed (byte* inputPointer = input)
            fixed (byte* outputPointer = output)
            {
                Check(Methods.ZSTD_DCtx_refPrefix(dctx, prefix, (nuint)baseImage.Length));
                nuint hint = 1;
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var read = patch.Read(input, 0, input.Length);
                    if (read == 0)
                    {
                        if (hint != 0)
                        {
                            throw new InvalidDataException("the patch ends before its frame does");
                        }

                        break;
                    }

                    var inBuffer = new ZSTD_inBuffer_s { src = inputPointer, size = (nuint)read, pos = 0 };
                    bool outputFull;
                    do
                    {
                        // A full output buffer may hide more decoded bytes: call again until zstd has room to spare.
                        var outBuffer = new ZSTD_outBuffer_s { dst = outputPointer, size = (nuint)output.Length, pos = 0 };
                        hint = Check(Methods.ZSTD_decompressStream(dctx, &outBuffer, &inBuffer));
                        target.Write(output, 0, (int)outBuffer.pos);
                        outputFull = outBuffer.pos == outBuffer.size;
                        if (hint == 0 && inBuffer.pos < inBuffer.size)
                        {
                            throw new InvalidDataException("the patch has bytes after its frame");
                        }
                    }
                    while (hint != 0 && (inBuffer.pos < inBuffer.size || outputFull));
                }
            }
        }
        finally
        {
            Methods.ZSTD_freeDCtx(dctx);
        }
    }

    private static nuint Check(nuint code)
    {
        if (Methods.ZSTD_isError(code))
        {
            throw new InvalidDataException($"zstd: {Methods.ZSTD_getErrorCode(code)}");
        }

        return code;
    }
}
