using System.Globalization;
using System.Text;
using ZteRollout.Admin.V1;

namespace ZteRollout.FleetSimulator;

/// <summary>
/// The <c>--server-deltas</c> scenario: two firmware-like FULL images of the run's own versions (the second with a
/// few regions rewritten), the delta the server generates between them, and a campaign to the second. Devices on
/// the base version hold the base image, so they can apply the zstd-patch-1 delta; the others get the FULL.
/// </summary>
internal sealed class ServerDeltaRun
{
    private ServerDeltaRun(SimulatorOptions options, string baseVersion, string targetVersion, byte[] baseImage, byte[] targetImage)
    {
        Options = options;
        BaseVersion = baseVersion;
        TargetVersion = targetVersion;
        BaseImage = baseImage;
        TargetImage = targetImage;
    }

    public SimulatorOptions Options { get; }

    public string BaseVersion { get; }

    public string TargetVersion { get; }

    public byte[] BaseImage { get; }

    public byte[] TargetImage { get; }

    public long FullSize => TargetImage.Length;

    public long DeltaSize { get; private set; }

    public static ServerDeltaRun Plan(SimulatorOptions options, string runId)
    {
        var size = (int)Math.Min(options.PackageSize, 256L << 20);
        var random = new Random(options.Seed);
        string[] words = ["kernel", "module", "init", "driver", "bootloader", "partition", "radio", "modem", "config", "libc", "busybox", "firmware"];
        var text = new StringBuilder(size + 32);
        while (text.Length < size)
        {
            text.Append(words[random.Next(words.Length)]).Append('_').Append(random.Next(100_000)).Append(random.Next(3) == 0 ? '\n' : ' ');
        }

        var baseImage = Encoding.ASCII.GetBytes(text.ToString(0, size));
        var target = (byte[])baseImage.Clone();
        // A new release: a few regions rewritten, as rebuilt components would be.
        for (var region = 0; region < 4; region++)
        {
            var length = Math.Min(4096, size / 64);
            random.NextBytes(target.AsSpan(random.Next(size - length), length));
        }

        return new ServerDeltaRun(options, "SIM1.1." + runId, "SIM1.2." + runId, baseImage, target);
    }

    /// <summary>Uploads both images, waits for the server's delta to be kept, and starts the campaign.</summary>
    public async Task<string> SetUpCampaignAsync(ScenarioSetup setup, string carrier, CancellationToken ct)
    {
        var model = Options.Model;
        await setup.UploadAsync(new PackageMetadata { Version = BaseVersion, TargetModels = { model }, Kind = PackageKind.Full, ReleaseNotes = "fleet simulator base" }, BaseImage, ct);
        var full = await setup.UploadAsync(new PackageMetadata { Version = TargetVersion, TargetModels = { model }, Kind = PackageKind.Full, ReleaseNotes = "fleet simulator" }, TargetImage, ct);
        var job = await setup.WaitForDeltaAsync(full.PackageId, BaseVersion, ct);
        if (job.State != DeltaGenerationState.Kept)
        {
            throw new InvalidOperationException($"The server did not keep the delta {BaseVersion} -> {TargetVersion}: {job.State} {job.Reason}");
        }

        DeltaSize = (long)job.DeltaSize;
        await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"packages: full {full.PackageId} ({full.Size} B), server delta {job.DeltaPackageId} ({job.DeltaSize} B, attempt {job.Attempt}) {BaseVersion} -> {TargetVersion}"));
        return await setup.StartCampaignAsync("fleet-sim " + TargetVersion, model, carrier, full.PackageId, ct);
    }
}
