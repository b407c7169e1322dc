using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Gateway.Blobs;

/// <summary>
/// Package bytes on disk, addressed by SHA-256: <c>{dir}/sha256/ab/abcdef…</c>. An upload goes to a temp file in
/// the same directory tree and is renamed into place only when complete, so a reader never sees half a blob.
/// </summary>
public sealed class BlobStore(IOptions<GatewayOptions> options, TimeProvider clock)
{
    /// <summary>
    /// A temp file not written for this long belongs to no upload in progress (an upload writes every chunk as it
    /// comes): it is left over from a process that died mid-upload, and is deleted at start.
    /// </summary>
    public static readonly TimeSpan AbandonedUploadAge = TimeSpan.FromHours(1);

    private string Root => options.Value.ResolvedBlobDirectory;

    /// <summary>Path of a blob's SHA-1 and MD5 (hawkBit DDI agents verify those), written beside it at upload.</summary>
    public string DigestsPathOf(string sha256) => PathOf(sha256) + ".digests";

    /// <summary>
    /// The blob's SHA-1 and MD5, lower-case hex: from the file written at upload, or (for a blob stored before digests
    /// were kept) computed once from the bytes and written then.
    /// </summary>
    public async Task<BlobDigests> DigestsAsync(string sha256, CancellationToken cancellationToken)
    {
        var path = DigestsPathOf(sha256);
        if (File.Exists(path) && BlobDigests.TryParse(await File.ReadAllTextAsync(path, cancellationToken)) is { } stored)
        {
            return stored;
        }

        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        await using (var file = OpenRead(sha256, 0))
        {
            var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                int read;
                while ((read = await file.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    sha1.AppendData(buffer, 0, read);
                    md5.AppendData(buffer, 0, read);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        var digests = new BlobDigests(Convert.ToHexStringLower(sha1.GetHashAndReset()), Convert.ToHexStringLower(md5.GetHashAndReset()));
        await WriteDigestsAsync(sha256, digests, cancellationToken);
        return digests;
    }

    private async Task WriteDigestsAsync(string sha256, BlobDigests digests, CancellationToken cancellationToken)
    {
        var path = DigestsPathOf(sha256);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        await File.WriteAllTextAsync(temp, digests.ToString(), cancellationToken);
        File.Move(temp, path, overwrite: true);
    }

    private string TempDirectory => BlobLayout.TempDirectory(Root);

    /// <summary>Path of a stored blob; the address must be a SHA-256 in lowercase hex, so no other path can be formed.</summary>
    public string PathOf(string sha256)
    {
        if (!IsSha256Hex(sha256))
        {
            throw new ArgumentException($"'{sha256}' is not a lowercase hex SHA-256, so it is not a blob address", nameof(sha256));
        }

        return BlobLayout.PathOf(Root, sha256);
    }

    public static bool IsSha256Hex(string? text) =>
        text is { Length: 64 } && text.AsSpan().IndexOfAnyExcept("0123456789abcdef") < 0;

    /// <summary>Starts an upload; dispose it to discard the temp file unless <see cref="PendingBlob.CommitAsync"/> ran.</summary>
    public PendingBlob BeginUpload(long maxBytes)
    {
        Directory.CreateDirectory(TempDirectory);
        return new PendingBlob(this, Path.Combine(TempDirectory, Guid.NewGuid().ToString("N")), maxBytes);
    }

    /// <summary>
    /// Deletes temp files of uploads that a dead process left behind (see <see cref="AbandonedUploadAge"/>; gateways
    /// sharing the blob directory may have uploads in progress, so younger files stay). Returns how many went.
    /// </summary>
    public int DeleteAbandonedUploads()
    {
        if (!Directory.Exists(TempDirectory))
        {
            return 0;
        }

        var deleted = 0;
        var cutoff = clock.GetUtcNow() - AbandonedUploadAge;
        foreach (var file in new DirectoryInfo(TempDirectory).EnumerateFiles())
        {
            if (file.LastWriteTimeUtc < cutoff.UtcDateTime)
            {
                try
                {
                    file.Delete();
                    deleted++;
                }
                catch (IOException)
                {
                    // Another gateway cleaned it first.
                }
            }
        }

        return deleted;
    }

    /// <summary>Opens a blob to read, positioned at <paramref name="offset"/>.</summary>
    public FileStream OpenRead(string sha256, long offset)
    {
        var stream = new FileStream(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024,
            FileOptions.Asynchronous | FileOptions.SequentialScan);
        stream.Seek(offset, SeekOrigin.Begin);
        return stream;
    }

    /// <summary>Up to <paramref name="count"/> leading bytes of a stored blob (to judge what kind of image it is).</summary>
    public async Task<byte[]> ReadHeadAsync(string sha256, int count, CancellationToken cancellationToken)
    {
        await using var file = OpenRead(sha256, 0);
        var head = new byte[(int)Math.Min(count, file.Length)];
        await file.ReadExactlyAsync(head, cancellationToken);
        return head;
    }

    /// <summary>An upload in progress: hashes while it writes, enforces the size bound.</summary>
    public sealed class PendingBlob : IAsyncDisposable
    {
        private readonly BlobStore _store;
        private readonly string _tempPath;
        private readonly long _maxBytes;
        private readonly FileStream _file;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        // hawkBit DDI agents verify SHA-1 (SWUpdate, rauc-hawkbit-updater) or MD5: computed in the same pass.
        private readonly IncrementalHash _sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        private bool _committed;

        internal PendingBlob(BlobStore store, string tempPath, long maxBytes)
        {
            _store = store;
            _tempPath = tempPath;
            _maxBytes = maxBytes;
            _file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous);
        }

        public long Length { get; private set; }

        /// <summary>SHA-1 and MD5 of the bytes, once committed.</summary>
        public BlobDigests? Digests { get; private set; }

        public async Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (Length + data.Length > _maxBytes)
            {
                throw RolloutException.ResourceExhausted($"package exceeds the limit of {_maxBytes} bytes");
            }

            _hash.AppendData(data.Span);
            _sha1.AppendData(data.Span);
            _md5.AppendData(data.Span);
            await _file.WriteAsync(data, cancellationToken);
            Length += data.Length;
        }

        /// <summary>Flushes to disk, moves the blob to its content address, and returns its hex SHA-256.</summary>
        public async Task<string> CommitAsync(CancellationToken cancellationToken)
        {
            await _file.FlushAsync(cancellationToken);
            _file.Flush(flushToDisk: true);
            await _file.DisposeAsync();
            var sha256 = Convert.ToHexStringLower(_hash.GetHashAndReset());
            var target = _store.PathOf(sha256);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            Digests = new BlobDigests(Convert.ToHexStringLower(_sha1.GetHashAndReset()), Convert.ToHexStringLower(_md5.GetHashAndReset()));
            await _store.WriteDigestsAsync(sha256, Digests, cancellationToken);
            if (File.Exists(target))
            {
                // Same bytes already stored (content addressing makes the copy redundant).
                File.Delete(_tempPath);
            }
            else
            {
                File.Move(_tempPath, target, overwrite: true);
            }

            _committed = true;
            return sha256;
        }

        public async ValueTask DisposeAsync()
        {
            await _file.DisposeAsync();
            _hash.Dispose();
            _sha1.Dispose();
            _md5.Dispose();
            if (!_committed && File.Exists(_tempPath))
            {
                File.Delete(_tempPath);
            }
        }
    }
}

/// <summary>A blob's SHA-1 and MD5 in lower-case hex; stored as one line, "sha1 md5".</summary>
public sealed record BlobDigests(string Sha1, string Md5)
{
    public override string ToString() => $"{Sha1} {Md5}\n";

    public static BlobDigests? TryParse(string text) =>
        text.Trim().Split(' ') is [{ Length: 40 } sha1, { Length: 32 } md5] ? new BlobDigests(sha1, md5) : null;
}
