using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ZteRollout.Shared.Errors;

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

    private string TempDirectory => Path.Combine(Root, "tmp");

    /// <summary>Path of a stored blob; the address must be a SHA-256 in lowercase hex, so no other path can be formed.</summary>
    public string PathOf(string sha256)
    {
        if (!IsSha256Hex(sha256))
        {
            throw new ArgumentException($"'{sha256}' is not a lowercase hex SHA-256, so it is not a blob address", nameof(sha256));
        }

        return Path.Combine(Root, "sha256", sha256[..2], sha256);
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

    /// <summary>An upload in progress: hashes while it writes, enforces the size bound.</summary>
    public sealed class PendingBlob : IAsyncDisposable
    {
        private readonly BlobStore _store;
        private readonly string _tempPath;
        private readonly long _maxBytes;
        private readonly FileStream _file;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private bool _committed;

        internal PendingBlob(BlobStore store, string tempPath, long maxBytes)
        {
            _store = store;
            _tempPath = tempPath;
            _maxBytes = maxBytes;
            _file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous);
        }

        public long Length { get; private set; }

        public async Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (Length + data.Length > _maxBytes)
            {
                throw RolloutException.ResourceExhausted($"package exceeds the limit of {_maxBytes} bytes");
            }

            _hash.AppendData(data.Span);
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
            if (!_committed && File.Exists(_tempPath))
            {
                File.Delete(_tempPath);
            }
        }
    }
}
