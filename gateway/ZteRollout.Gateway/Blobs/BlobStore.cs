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
public sealed class BlobStore(IOptions<GatewayOptions> options)
{
    private string Root => options.Value.ResolvedBlobDirectory;

    /// <summary>Path of a stored blob.</summary>
    public string PathOf(string sha256) => BlobLayout.PathOf(Root, sha256);

    /// <summary>Starts an upload; dispose it to discard the temp file unless <see cref="PendingBlob.CommitAsync"/> ran.</summary>
    public PendingBlob BeginUpload(long maxBytes)
    {
        var tempDirectory = BlobLayout.TempDirectory(Root);
        Directory.CreateDirectory(tempDirectory);
        return new PendingBlob(this, Path.Combine(tempDirectory, Guid.NewGuid().ToString("N")), maxBytes);
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
