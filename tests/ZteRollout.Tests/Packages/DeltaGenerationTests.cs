using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Packages;
using DeltaBuilder = ZteRollout.Silo.Packages.DeltaBuilder;
using ZteRollout.Tests.Infrastructure;
using Agent = ZteRollout.DeviceAgent.DeviceAgent;
using ManifestKind = ZteRollout.Shared.Packages.PackageKind;
using PackageKind = ZteRollout.Admin.V1.PackageKind;

namespace ZteRollout.Tests.Packages;

/// <summary>
/// Server-side deltas on a real embedded node (SQLite, blobs on disk): an uploaded FULL gets a delta from the
/// previous version, which base-version devices are offered and apply (with the reference agent and with stock
/// zstd), others get the FULL; a wrong base is refused before the slot is written and the FULL follows; compressed
/// and over-limit images get no delta and say why; a restart mid-build rebuilds the pair once.
/// </summary>
public sealed class DeltaGenerationTests
{
    private const int ImageBytes = 1_536 * 1024;

    [Fact]
    public async Task UploadedFull_GetsDeltaFromPreviousVersion_OfferedToBaseDevicesOnly_AndAppliesByteIdentical()
    {
        var (v1, v2) = ImagePair(seed: 1);
        await using var run = await NodeRun.StartAsync("delta-offer");
        var node = run.Node;
        var full1 = await Scenario.UploadAsync(node, Scenario.Full("DG-1", "1.0"), v1);
        var full2 = await Scenario.UploadAsync(node, Scenario.Full("DG-1", "2.0"), v2);
        Assert.Empty(full2.Warnings);

        var job = await WaitFinishedAsync(node, full2.PackageId);
        Assert.Equal((full1.PackageId, "1.0", DeltaGenerationState.Kept, "upload", ""), (job.FromPackageId, job.FromVersion, job.State, job.RequestedBy, job.Reason));
        var delta = await node.Admin.GetPackageAsync(new GetPackageRequest { PackageId = job.DeltaPackageId }, node.AdminHeaders);
        var manifest = ManifestCodec.Decode(delta.Manifest.Span);
        Assert.Equal(
            (ManifestKind.Delta, "2.0", "1.0", Scenario.Sha256Hex(v1), Scenario.Sha256Hex(v2), ZstdPatch.Format, 21),
            (manifest.Kind, manifest.Version, manifest.BaseVersion, manifest.BaseSha256, manifest.TargetSha256, manifest.DeltaFormat, manifest.WindowLog));
        Assert.Equal((PackageKind.Delta, "zstd-patch-1", job.DeltaSize), (delta.Metadata.Kind, delta.DeltaFormat, delta.Size));
        Assert.True(delta.Size < (ulong)v2.Length / 10, $"delta of {delta.Size} bytes for a {v2.Length}-byte image with a few changed regions");

        // A device elsewhere than this server applies the patch with the stock zstd command line.
        var deltaBytes = await File.ReadAllBytesAsync(BlobLayout.PathOf(Path.Combine(node.DataDirectory, "blobs"), delta.Sha256));
        Assert.Equal(v2, StockZstdApply(v1, deltaBytes, manifest.WindowLog));

        await Scenario.StartCampaignAsync(node, "dg-1", "DG-1", full2.PackageId);
        var tokens = await Scenario.RegisterAsync(node, "dg-1-base", "dg-1-old");
        var key = await SigningKeyAsync(node);

        var baseDevice = SimulatedDevice.Create(run.Directory("dg-1-base"), "1.0", v1);
        var onBase = await AgentFor(node, "dg-1-base", tokens, key, baseDevice).RunOnceAsync(CancellationToken.None);
        Assert.Equal((AgentOutcome.Succeeded, (long)delta.Size), (onBase.Outcome, onBase.BytesDownloaded));
        Assert.Equal(v2, await File.ReadAllBytesAsync(baseDevice.SlotPath(ZteRollout.Device.V1.Slot.B)));
        var baseView = await node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "dg-1-base" }, node.AdminHeaders);
        Assert.Equal(delta.PackageId, baseView.CurrentOffer.PackageId);

        var oldDevice = SimulatedDevice.Create(run.Directory("dg-1-old"), "0.5");
        var onOld = await AgentFor(node, "dg-1-old", tokens, key, oldDevice).RunOnceAsync(CancellationToken.None);
        Assert.Equal((AgentOutcome.Succeeded, (long)v2.Length), (onOld.Outcome, onOld.BytesDownloaded));
        var oldView = await node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "dg-1-old" }, node.AdminHeaders);
        Assert.Equal(full2.PackageId, oldView.CurrentOffer.PackageId);

        // Asking again for the same pair answers the kept job; nothing is built twice.
        var again = await node.Admin.GenerateDeltaAsync(new GenerateDeltaRequest { FromPackageId = full1.PackageId, ToPackageId = full2.PackageId }, node.AdminHeaders);
        Assert.Equal((DeltaGenerationState.Kept, delta.PackageId, 1u), (again.State, again.DeltaPackageId, again.Attempt));
        Assert.Single(await DeltasOfAsync(node, "DG-1"));

        var backwards = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
            node.Admin.GenerateDeltaAsync(new GenerateDeltaRequest { FromPackageId = full2.PackageId, ToPackageId = full1.PackageId }, node.AdminHeaders).ResponseAsync);
        Assert.Equal(["to_package_id"], RpcAssert.Fields(backwards));
        await RpcAssert.FailsAsync(StatusCode.NotFound, () =>
            node.Admin.GenerateDeltaAsync(new GenerateDeltaRequest { FromPackageId = "pkg-nope", ToPackageId = full2.PackageId }, node.AdminHeaders).ResponseAsync);
    }

    [Fact]
    public async Task DeviceWhoseBaseDiffersByOneByte_RefusesTheDeltaBeforeWritingItsSlot_AndGetsTheFullNext()
    {
        var (v1, v2) = ImagePair(seed: 2);
        await using var run = await NodeRun.StartAsync("delta-base");
        var node = run.Node;
        await Scenario.UploadAsync(node, Scenario.Full("DG-2", "1.0"), v1);
        var full2 = await Scenario.UploadAsync(node, Scenario.Full("DG-2", "2.0"), v2);
        var job = await WaitFinishedAsync(node, full2.PackageId);
        Assert.Equal(DeltaGenerationState.Kept, job.State);
        await Scenario.StartCampaignAsync(node, "dg-2", "DG-2", full2.PackageId);
        var tokens = await Scenario.RegisterAsync(node, "dg-2-1");
        var key = await SigningKeyAsync(node);

        var modified = (byte[])v1.Clone();
        modified[ImageBytes / 2] ^= 0x20;
        var device = SimulatedDevice.Create(run.Directory("dg-2-1"), "1.0", modified);
        var agent = AgentFor(node, "dg-2-1", tokens, key, device);

        var first = await agent.RunOnceAsync(CancellationToken.None);
        Assert.Equal((AgentOutcome.Refused, "E_DELTA_BASE_SHA256", 0L), (first.Outcome, first.ErrorCode, first.BytesDownloaded));
        Assert.Equal(0, new FileInfo(device.SlotPath(ZteRollout.Device.V1.Slot.B)).Length);
        Assert.Equal(modified, await File.ReadAllBytesAsync(device.SlotPath(ZteRollout.Device.V1.Slot.A)));
        var refused = await node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "dg-2-1" }, node.AdminHeaders);
        Assert.Equal((job.DeltaPackageId, ZteRollout.Device.V1.OfferStatus.Canceled, "E_DELTA_BASE_SHA256"),
            (refused.CurrentOffer.PackageId, refused.CurrentOffer.Status, refused.CurrentOffer.ErrorCode));

        var second = await agent.RunOnceAsync(CancellationToken.None);
        Assert.Equal((AgentOutcome.Succeeded, (long)v2.Length), (second.Outcome, second.BytesDownloaded));
        var after = await node.Admin.GetDeviceAsync(new GetDeviceRequest { DeviceId = "dg-2-1" }, node.AdminHeaders);
        Assert.Equal((full2.PackageId, ZteRollout.Device.V1.OfferStatus.Succeeded), (after.CurrentOffer.PackageId, after.CurrentOffer.Status));
        Assert.Equal(v2, await File.ReadAllBytesAsync(device.SlotPath(ZteRollout.Device.V1.Slot.B)));
    }

    [Fact]
    public async Task CompressedImages_GetAnUploadWarning_AndNoDelta_WithTheReason()
    {
        var (v1, v2) = ImagePair(seed: 3);
        await using var run = await NodeRun.StartAsync("delta-gzip");
        var node = run.Node;
        await Scenario.UploadAsync(node, Scenario.Full("DG-3", "1.0"), Gzip(v1));
        var full2 = await Scenario.UploadAsync(node, Scenario.Full("DG-3", "2.0"), Gzip(v2));

        Assert.Equal(
            ["the image looks compressed (gzip magic): deltas will not help; upload the uncompressed image so devices on older versions download a delta"],
            full2.Warnings);
        var job = await WaitFinishedAsync(node, full2.PackageId);
        Assert.Equal(
            (DeltaGenerationState.Skipped, "compressed payload (gzip magic): a delta would be about as large as the full image; upload the image uncompressed", ""),
            (job.State, job.Reason, job.DeltaPackageId));
        Assert.Empty(await DeltasOfAsync(node, "DG-3"));
    }

    [Fact]
    public async Task ImageOverTheWindowLimit_IsRefusedForDelta_WithTheReason()
    {
        var (job, v1, v2) = await GenerateUnderLimitAsync(seed: 4, "DG-4", "--Rollout:Deltas:MaxWindowLog=20");
        Assert.Equal(
            (DeltaGenerationState.Refused, $"image of {v2.Length} bytes needs a zstd window of 2^21; the limit is 2^20 (1 MiB, Rollout:Deltas:MaxWindowLog): devices get the FULL"),
            (job.State, job.Reason));
    }

    [Fact]
    public async Task GenerationOverTheMemoryBudget_IsRefusedWithTheReason()
    {
        var (job, v1, _) = await GenerateUnderLimitAsync(seed: 6, "DG-6", "--Rollout:Deltas:MemoryBudgetBytes=8388608");
        var needed = ZstdPatch.EstimateGenerationBytes(v1.Length, 21) >> 20;
        Assert.Equal(
            (DeltaGenerationState.Refused, $"generation needs about {needed} MiB, more than the memory budget of 8 MiB (Rollout:Deltas:MemoryBudgetBytes)"),
            (job.State, job.Reason));
    }

    /// <summary>
    /// Uploads versions 1.0 and 2.0 of <paramref name="model"/> on a node started with one limiting setting, waits for
    /// the 1.0→2.0 job and checks that no delta was published; the caller checks the job's state and reason.
    /// </summary>
    private static async Task<(DeltaGeneration Job, byte[] V1, byte[] V2)> GenerateUnderLimitAsync(int seed, string model, string limit)
    {
        var (v1, v2) = ImagePair(seed);
        await using var run = await NodeRun.StartAsync($"delta-limit-{seed}", limit);
        var node = run.Node;
        await Scenario.UploadAsync(node, Scenario.Full(model, "1.0"), v1);
        var full2 = await Scenario.UploadAsync(node, Scenario.Full(model, "2.0"), v2);

        var job = await WaitFinishedAsync(node, full2.PackageId);
        Assert.Empty(await DeltasOfAsync(node, model));
        return (job, v1, v2);
    }

    [Fact]
    public async Task RestartMidBuild_DiscardsTheHalfBuiltDelta_RebuildsThePairOnce()
    {
        var (v1, v2) = ImagePair(seed: 5);
        var data = TestPaths.NewTempDirectory("delta-restart");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 3, 9, 0, 0, TimeSpan.Zero));
        try
        {
            string partial, fullId;
            using var reached = new ManualResetEventSlim();
            using var release = new ManualResetEventSlim();
            await using (var node = await EmbeddedNodeHost.StartAsync(data, clock))
            {
                // Hold the first build after its first chunk, and stop the node under it: a crash mid-way.
                var builder = node.Services.GetRequiredService<DeltaBuilder>();
                builder.Progress += (_, done, total) =>
                {
                    if (done < total && !reached.IsSet)
                    {
                        reached.Set();
                        release.Wait(TimeSpan.FromMinutes(2));
                    }
                };
                await Scenario.UploadAsync(node, Scenario.Full("DG-5", "1.0"), v1);
                var full2 = await Scenario.UploadAsync(node, Scenario.Full("DG-5", "2.0"), v2);
                fullId = full2.PackageId;
                Assert.True(reached.Wait(TimeSpan.FromMinutes(2)), "the build never reported progress");
                var building = Assert.Single((await node.Admin.GetPackageAsync(new GetPackageRequest { PackageId = fullId }, node.AdminHeaders)).Deltas);
                Assert.Equal((DeltaGenerationState.Building, 1u), (building.State, building.Attempt));
                Assert.True(building.BytesDone is > 0 and < ImageBytes, $"progress {building.BytesDone}");
                partial = builder.PartialPathOf(DeltaJob.KeyOf(building.FromPackageId, building.ToPackageId));
                Assert.True(File.Exists(partial));
            }

            // The stopped node's build wakes up cancelled and leaves its half-built file behind.
            release.Set();

            await using (var again = await EmbeddedNodeHost.StartAsync(data, clock))
            {
                var job = await WaitFinishedAsync(again, fullId);
                Assert.Equal((DeltaGenerationState.Kept, 2u), (job.State, job.Attempt));
                Assert.False(File.Exists(partial));
                var delta = Assert.Single(await DeltasOfAsync(again, "DG-5"));
                Assert.Equal(job.DeltaPackageId, delta.PackageId);

                // Two requests for the pair at once answer the one kept job.
                var requests = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => again.Admin.GenerateDeltaAsync(
                    new GenerateDeltaRequest { FromPackageId = job.FromPackageId, ToPackageId = job.ToPackageId }, again.AdminHeaders).ResponseAsync));
                Assert.All(requests, r => Assert.Equal((DeltaGenerationState.Kept, delta.PackageId, 2u), (r.State, r.DeltaPackageId, r.Attempt)));
                Assert.Single(await DeltasOfAsync(again, "DG-5"));
            }
        }
        finally
        {
            TestPaths.TryDelete(data);
        }
    }

    /// <summary>
    /// A firmware-like pair: an image of text-and-table records (compressible, like code and filesystems), and the
    /// next version with a few regions rewritten and one block inserted.
    /// </summary>
    internal static (byte[] Old, byte[] New) ImagePair(int seed)
    {
        var random = new Random(seed);
        string[] words = ["kernel", "module", "init", "driver", "bootloader", "partition", "radio", "modem", "config", "libc", "busybox", "firmware"];
        var text = new StringBuilder(ImageBytes);
        while (text.Length < ImageBytes)
        {
            text.Append(words[random.Next(words.Length)]).Append('_').Append(random.Next(100_000)).Append(random.Next(3) == 0 ? '\n' : ' ');
        }

        var old = Encoding.ASCII.GetBytes(text.ToString(0, ImageBytes));
        var changed = (byte[])old.Clone();
        foreach (var at in new[] { 100_000, 700_000, 1_300_000 })
        {
            random.NextBytes(changed.AsSpan(at, 2048));
        }

        var inserted = new byte[4096];
        random.NextBytes(inserted);
        return (old, [.. changed.AsSpan(0, 500_000), .. inserted, .. changed.AsSpan(500_000, ImageBytes - 500_000 - inserted.Length)]);
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(bytes);
        }

        return output.ToArray();
    }

    /// <summary>What a device without our agent runs: Debian's zstd, <c>zstd -d --long=W --patch-from=BASE</c>.</summary>
    internal static byte[] StockZstdApply(byte[] baseImage, byte[] patch, int windowLog)
    {
        var directory = TestPaths.NewTempDirectory("zstd-cli");
        try
        {
            var basePath = Path.Combine(directory, "base.img");
            var patchPath = Path.Combine(directory, "delta.zst");
            var outputPath = Path.Combine(directory, "target.img");
            File.WriteAllBytes(basePath, baseImage);
            File.WriteAllBytes(patchPath, patch);
            using var zstd = Process.Start(new ProcessStartInfo("zstd", ["-q", "-d", $"--long={windowLog}", $"--patch-from={basePath}", patchPath, "-o", outputPath])
            {
                RedirectStandardError = true,
            }) ?? throw new InvalidOperationException("zstd did not start");
            var errors = zstd.StandardError.ReadToEnd();
            zstd.WaitForExit();
            Assert.True(zstd.ExitCode == 0, $"zstd exited {zstd.ExitCode}: {errors}");
            return File.ReadAllBytes(outputPath);
        }
        finally
        {
            TestPaths.TryDelete(directory);
        }
    }

    /// <summary>The job for the package's newest pair once it has finished (a build takes seconds at level 22).</summary>
    private static async Task<DeltaGeneration> WaitFinishedAsync(IRolloutEndpoint node, string targetPackageId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            var package = await node.Admin.GetPackageAsync(new GetPackageRequest { PackageId = targetPackageId }, node.AdminHeaders);
            var job = Assert.Single(package.Deltas, d => d.ToPackageId == targetPackageId);
            if (job.State is not (DeltaGenerationState.Queued or DeltaGenerationState.Building))
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < deadline, $"delta to {targetPackageId} still {job.State} after 3 minutes");
            await Task.Delay(100);
        }
    }

    private static async Task<List<Package>> DeltasOfAsync(IRolloutEndpoint node, string model) =>
        [.. (await node.Admin.ListPackagesAsync(new ListPackagesRequest { Model = model }, node.AdminHeaders)).Packages
            .Where(p => p.Metadata.Kind == PackageKind.Delta)];

    private static async Task<string> SigningKeyAsync(EmbeddedNodeHost node) =>
        (await node.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), node.AdminHeaders)).PublicKeyPem;

    private static Agent AgentFor(EmbeddedNodeHost node, string deviceId, Dictionary<string, string> tokens, string key, SimulatedDevice device) =>
        new(node.Channel, deviceId, tokens[deviceId], key, device, new AgentBehavior { Model = ModelOf(deviceId) });

    private static string ModelOf(string deviceId) => deviceId[..4].ToUpperInvariant();

    /// <summary>One embedded node on its own data directory, with a folder for simulated devices.</summary>
    private sealed class NodeRun : IAsyncDisposable
    {
        private readonly string _data;
        private readonly string _devices;

        private NodeRun(string data, string devices, EmbeddedNodeHost node)
        {
            _data = data;
            _devices = devices;
            Node = node;
        }

        public EmbeddedNodeHost Node { get; }

        public static async Task<NodeRun> StartAsync(string purpose, params string[] args)
        {
            var data = TestPaths.NewTempDirectory(purpose);
            var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 3, 9, 0, 0, TimeSpan.Zero));
            return new NodeRun(data, TestPaths.NewTempDirectory(purpose + "-devices"), await EmbeddedNodeHost.StartAsync(data, clock, args));
        }

        public string Directory(string deviceId) => Path.Combine(_devices, deviceId);

        public async ValueTask DisposeAsync()
        {
            await Node.DisposeAsync();
            TestPaths.TryDelete(_data);
            TestPaths.TryDelete(_devices);
        }
    }
}
