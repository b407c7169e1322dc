using System.Diagnostics;
using System.Security.Cryptography;
using Grpc.Core;
using Microsoft.Extensions.Options;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Gateway;
using ZteRollout.Gateway.Blobs;

namespace ZteRollout.Benchmarks;

internal sealed record DownloadOptions(int SizeMiB, int Rounds);

/// <summary>One kind of measurement: the name its figures carry, how many downloads run at once, and download number i.</summary>
internal sealed record DownloadSide(string Name, int Concurrency, Func<int, Task<long>> DownloadAsync);

/// <summary>What one timed measurement saw: bytes, wall time, and the process's gen-2 collections and allocations.</summary>
internal sealed record DownloadResult(long Bytes, TimeSpan Elapsed, int Gen2Collections, long AllocatedBytes)
{
    public double MiBPerSecond => Bytes / (1024.0 * 1024) / Elapsed.TotalSeconds;

    public double AllocatedMiB => AllocatedBytes / (1024.0 * 1024);
}

/// <summary>
/// Package bytes per second through the orchestrator's gRPC <c>Download</c> stream against the same blob served by a
/// bare Kestrel over HTTP/2 cleartext, in the same run, one download at a time and four at once (four devices, each
/// with its own offer and its own connection). Measurements alternate Kestrel / gRPC for several rounds and each figure
/// is the median over rounds, because the box is shared and noisy.
/// </summary>
internal static class DownloadBenchmark
{
    private const string Model = "BENCH-DL";
    private const string RunningVersion = "B1.0";
    private const string TargetVersion = "B2.0";
    private const string CampaignId = "bench-download";
    private const int Concurrent = 4;
    private const int DiscardBufferBytes = 64 * 1024;

    public static async Task<int> RunAsync(DownloadOptions o, TextWriter output)
    {
        BoxInfo.Print(output);
        output.WriteLine($"scenario=download size_mib={o.SizeMiB} rounds={o.Rounds} concurrency=1,{Concurrent}");

        await using var node = await OrchestratorNode.StartAsync();
        var setup = Stopwatch.StartNew();
        var package = await node.UploadFullPackageAsync(Model, TargetVersion, o.SizeMiB * 1024 * 1024);
        output.WriteLine($"setup: uploaded a {package.Size}-byte package in {setup.Elapsed.TotalSeconds:F1} s");
        var devices = await node.RegisterDevicesAsync("dl", Concurrent, batchesInFlight: 1, Model, RunningVersion);
        await node.CreateAndStartCampaignAsync(CampaignId, Plan(package.PackageId));

        var channels = LoadRunner.OpenChannels(node.Address, Concurrent);
        var httpClients = new List<HttpClient>();
        try
        {
            var clients = channels.Select(c => new DeviceUpdate.DeviceUpdateClient(c)).ToArray();
            var headerClients = channels.Select(c => new ChunkHeaderClient(c.CreateCallInvoker())).ToArray();
            var downloads = new DownloadRequest[Concurrent];
            for (var i = 0; i < Concurrent; i++)
            {
                var checkIn = await clients[i].CheckInAsync(devices[i].CheckIn, devices[i].Headers);
                if (checkIn.DecisionCase != CheckInResponse.DecisionOneofCase.Offer || checkIn.Offer.PackageId != package.PackageId)
                {
                    throw new InvalidOperationException($"device {devices[i].Id} got {checkIn.DecisionCase}, not an offer of {package.PackageId}");
                }

                downloads[i] = new DownloadRequest { DeviceId = devices[i].Id, OfferId = checkIn.Offer.OfferId };
            }

            // The baseline serves the very blob the gateway streams, opened the same way, and writes it in pieces of the
            // gateway's chunk size: both sides hand Kestrel equal writes and differ only by what the gRPC path adds.
            var chunkBytes = await FirstChunkBytesAsync(clients[0], downloads[0], devices[0].Headers);
            var blobs = new BlobStore(Options.Create(new GatewayOptions { DataDirectory = node.DataDirectory }), TimeProvider.System);
            await using var files = await FileServer.StartAsync(blobs, package.Sha256, (long)package.Size, chunkBytes);
            httpClients.AddRange(Enumerable.Range(0, Concurrent).Select(_ => files.OpenClient()));

            var size = (long)package.Size;
            Task<long> KestrelAsync(int i, IncrementalHash? hash) => KestrelDownloadAsync(httpClients[i], size, hash);
            Task<long> GrpcAsync(int i) => ReceiveAsync(headerClients[i].Download(downloads[i], devices[i].Headers), c => c, null, size);
            Task<long> ParsedAsync(int i, IncrementalHash? hash) => ReceiveAsync(
                clients[i].Download(downloads[i], devices[i].Headers),
                c => new ChunkHeader(c.Offset, c.Data.Length, c.TotalSize),
                hash is null ? null : c => hash.AppendData(c.Data.Span),
                size);

            // Warm-up, not timed: one whole download each way (JIT, page cache, connections); two are checked against the
            // package's SHA-256, so the figures below are known to move the right bytes.
            var kestrelHash = await WarmUpAsync(hash => KestrelAsync(0, hash));
            var grpcHash = await WarmUpAsync(hash => ParsedAsync(0, hash));
            await GrpcAsync(0);
            output.WriteLine($"wire: grpc_chunk_bytes={chunkBytes} (the gateway's DownloadChunkBytes) kestrel_write_bytes={chunkBytes}; one HTTP/2 connection per download on both sides");
            output.WriteLine($"warmup: kestrel sha256 {(kestrelHash == package.Sha256 ? "ok" : "MISMATCH")}, grpc sha256 {(grpcHash == package.Sha256 ? "ok" : "MISMATCH")}");
            if (kestrelHash != package.Sha256 || grpcHash != package.Sha256)
            {
                return 1;
            }

            // Per round, one at a time and then four at once: Kestrel; gRPC read without copying the bytes (the
            // counterpart of Kestrel's discard buffer); gRPC through the generated client, which copies every chunk.
            DownloadSide[] sides =
            [
                new("kestrel", 1, i => KestrelAsync(i, null)),
                new("grpc", 1, GrpcAsync),
                new("grpc_parsed", 1, i => ParsedAsync(i, null)),
                new($"kestrel_{Concurrent}x", Concurrent, i => KestrelAsync(i, null)),
                new($"grpc_{Concurrent}x", Concurrent, GrpcAsync),
                new($"grpc_parsed_{Concurrent}x", Concurrent, i => ParsedAsync(i, null)),
            ];
            var runs = sides.ToDictionary(side => side.Name, _ => new List<DownloadResult>());
            for (var round = 1; round <= o.Rounds; round++)
            {
                var line = new List<string>();
                foreach (var side in sides)
                {
                    var result = await MeasureAsync(side.Concurrency, side.DownloadAsync);
                    runs[side.Name].Add(result);
                    line.Add($"{side.Name} {Describe(result)}");
                }

                output.WriteLine($"round {round}: {string.Join(" | ", line)}");
            }

            double Median(string side) => LoadRunner.Median(runs[side].Select(r => r.MiBPerSecond));
            foreach (var side in sides)
            {
                var results = runs[side.Name];
                output.WriteLine(
                    $"{side.Name}_mib_per_s={Median(side.Name):F0} {side.Name}_gen2={results.Sum(r => r.Gen2Collections)} " +
                    $"{side.Name}_allocated_mib={LoadRunner.Median(results.Select(r => r.AllocatedMiB)):F0}");
            }

            output.WriteLine($"download_vs_kestrel_ratio={Median("grpc") / Median("kestrel"):F2}");
            output.WriteLine($"download_vs_kestrel_ratio_{Concurrent}x={Median($"grpc_{Concurrent}x") / Median($"kestrel_{Concurrent}x"):F2}");
            output.WriteLine($"parsed_vs_kestrel_ratio={Median("grpc_parsed") / Median("kestrel"):F2}");
            output.WriteLine($"parsed_vs_kestrel_ratio_{Concurrent}x={Median($"grpc_parsed_{Concurrent}x") / Median($"kestrel_{Concurrent}x"):F2}");
            return 0;
        }
        finally
        {
            foreach (var client in httpClients)
            {
                client.Dispose();
            }

            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>Runs <paramref name="count"/> downloads at once and times them from the first request to the last byte.</summary>
    private static async Task<DownloadResult> MeasureAsync(int count, Func<int, Task<long>> download)
    {
        var gen2 = GC.CollectionCount(2);
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var start = Stopwatch.GetTimestamp();
        var bytes = await Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(() => download(i))));
        var elapsed = Stopwatch.GetElapsedTime(start);
        return new DownloadResult(bytes.Sum(), elapsed, GC.CollectionCount(2) - gen2, GC.GetTotalAllocatedBytes(precise: true) - allocated);
    }

    private static async Task<string> WarmUpAsync(Func<IncrementalHash, Task<long>> download)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await download(hash);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// Reads one whole download as a device would check it: each chunk continues where the last one ended and names the
    /// package's size, and the stream ends exactly at that size.
    /// </summary>
    private static async Task<long> ReceiveAsync<T>(AsyncServerStreamingCall<T> call, Func<T, ChunkHeader> header, Action<T>? consume, long size)
    {
        using (call)
        {
            long received = 0;
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                var chunk = header(call.ResponseStream.Current);
                if ((long)chunk.Offset != received || (long)chunk.TotalSize != size)
                {
                    throw new InvalidOperationException($"chunk at {chunk.Offset} of {chunk.TotalSize} where {received} of {size} was due");
                }

                consume?.Invoke(call.ResponseStream.Current);
                received += chunk.Length;
            }

            return Received(received, size);
        }
    }

    /// <summary>One whole download from the bare Kestrel, read into a discard buffer.</summary>
    private static async Task<long> KestrelDownloadAsync(HttpClient client, long size, IncrementalHash? hash)
    {
        using var response = await client.GetAsync(FileServer.PackagePath, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[DiscardBufferBytes];
        long received = 0;
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            hash?.AppendData(buffer, 0, read);
            received += read;
        }

        return Received(received, size);
    }

    private static long Received(long received, long size) =>
        received == size ? received : throw new InvalidOperationException($"received {received} bytes of {size}");

    /// <summary>The size of the gateway's chunks, read from the first one of a stream that is then abandoned.</summary>
    private static async Task<int> FirstChunkBytesAsync(DeviceUpdate.DeviceUpdateClient client, DownloadRequest request, Metadata headers)
    {
        using var call = client.Download(request, headers);
        return await call.ResponseStream.MoveNext(CancellationToken.None)
            ? call.ResponseStream.Current.Data.Length
            : throw new InvalidOperationException("the download stream ended before its first chunk");
    }

    /// <summary>Eligible by model; one stage at 100 %, so every registered device gets an offer at its first check-in.</summary>
    private static CampaignPlan Plan(string packageId) => new()
    {
        Name = "download benchmark",
        Targets = { new CampaignTarget { Model = Model, PackageId = packageId } },
        Eligibility = new Eligibility { Models = { Model } },
        InProgressTimeoutSeconds = 86400,
        Stages = { new Stage { Percent = 100, MinSoakSeconds = 3600 } },
    };

    private static string Describe(DownloadResult r) =>
        $"{r.MiBPerSecond:F0} MiB/s in {r.Elapsed.TotalSeconds:F2} s gen2={r.Gen2Collections} alloc={r.AllocatedMiB:F0} MiB";
}
