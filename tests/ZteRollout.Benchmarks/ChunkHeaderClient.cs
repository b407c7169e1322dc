using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using ZteRollout.Device.V1;

namespace ZteRollout.Benchmarks;

/// <summary>A <see cref="DownloadChunk"/> without its bytes: where they sit in the package and how many there are.</summary>
internal sealed record ChunkHeader(ulong Offset, int Length, ulong TotalSize);

/// <summary>
/// Calls <c>Download</c> and reads each chunk's fields from the received message without copying its bytes anywhere,
/// the gRPC counterpart of reading an HTTP body into a discard buffer. The generated client parses every chunk into a
/// new array (a copy and an allocation per chunk), which is the client's cost, not the stream's.
/// </summary>
internal sealed class ChunkHeaderClient(CallInvoker invoker)
{
    private static readonly Method<DownloadRequest, ChunkHeader> DownloadMethod = new(
        MethodType.ServerStreaming,
        DeviceUpdate.Descriptor.FullName,
        nameof(DeviceUpdate.DeviceUpdateClient.Download),
        Marshallers.Create<DownloadRequest>(r => r.ToByteArray(), DownloadRequest.Parser.ParseFrom),
        Marshallers.Create<ChunkHeader>(
            (_, _) => throw new NotSupportedException("a client never sends a chunk"),
            (DeserializationContext context) => Parse(context.PayloadAsReadOnlySequence())));

    public AsyncServerStreamingCall<ChunkHeader> Download(DownloadRequest request, Metadata headers) =>
        invoker.AsyncServerStreamingCall(DownloadMethod, null, new CallOptions(headers), request);

    /// <summary>Reads fields 1 (offset), 2 (data: its length only) and 3 (total size); skips none other, as the proto has none.</summary>
    private static ChunkHeader Parse(ReadOnlySequence<byte> payload)
    {
        var reader = new SequenceReader<byte>(payload);
        ulong offset = 0, totalSize = 0;
        var length = 0;
        while (!reader.End)
        {
            var tag = ReadVarint(ref reader);
            switch (tag)
            {
                case (1 << 3) | 0:
                    offset = ReadVarint(ref reader);
                    break;
                case (2 << 3) | 2:
                    length = checked((int)ReadVarint(ref reader));
                    reader.Advance(length);
                    break;
                case (3 << 3) | 0:
                    totalSize = ReadVarint(ref reader);
                    break;
                default:
                    throw new InvalidDataException($"unexpected field tag {tag} in a DownloadChunk");
            }
        }

        return new ChunkHeader(offset, length, totalSize);
    }

    private static ulong ReadVarint(ref SequenceReader<byte> reader)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out var b))
            {
                throw new InvalidDataException("truncated varint in a DownloadChunk");
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("varint longer than 10 bytes in a DownloadChunk");
    }
}
