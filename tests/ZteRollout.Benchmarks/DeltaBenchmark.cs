using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.Security.Cryptography;
using ZstdSharp;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Benchmarks;

internal sealed record DeltaBenchmarkOptions(int SizeMiB, double ReplacedShare, int Seed);

/// <summary>
/// Server-side delta generation on a realistic pair, built in the run: a root filesystem tar of real files from this
/// machine (binaries, libraries, text), and the same tree with a share of its binaries replaced by other real
/// binaries of similar size. Ours (ZstdSharp, zstd-patch-1) against the zstd-compressed full image a device would
/// otherwise download, and against bsdiff (when installed) on the same pair, in the same run.
/// </summary>
internal static class DeltaBenchmark
{
    private static readonly string[] Roots = ["/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/share/doc", "/etc"];

    public static async Task<int> RunAsync(DeltaBenchmarkOptions o, TextWriter output)
    {
        BoxInfo.Print(output);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario=delta size_mib={o.SizeMiB} replaced_share={o.ReplacedShare} seed={o.Seed}"));
        var work = Path.Combine(Path.GetTempPath(), "zte-bench-delta-" + Environment.ProcessId);
        Directory.CreateDirectory(work);
        try
        {
            var (oldTar, newTar, files, replaced, replacedBytes) = BuildPair(work, o);
            var oldSize = new FileInfo(oldTar).Length;
            var newSize = new FileInfo(newTar).Length;
            output.WriteLine($"pair: {files} files, {replaced} of them ELF binaries replaced ({Mib(replacedBytes):F1} MiB); old {Mib(oldSize):F1} MiB, new {Mib(newSize):F1} MiB");

            // The download without a delta: the full image, zstd-compressed as a careful release would ship it.
            var fullCompressed = CompressedSize(await File.ReadAllBytesAsync(newTar), level: 19);

            var windowLog = ZstdPatch.WindowLogFor(oldSize, newSize);
            var patchPath = Path.Combine(work, "delta.zst");
            var (genSeconds, genPeakBytes) = MeasureInProcess(() =>
            {
                var baseImage = File.ReadAllBytes(oldTar);
                using var target = File.OpenRead(newTar);
                using var patch = File.Create(patchPath);
                ZstdPatch.Create(baseImage, target, newSize, patch, windowLog);
            });
            var deltaSize = new FileInfo(patchPath).Length;

            var appliedPath = Path.Combine(work, "applied.img");
            var (applySeconds, _) = MeasureInProcess(() =>
            {
                var baseImage = File.ReadAllBytes(oldTar);
                using var patch = File.OpenRead(patchPath);
                using var applied = File.Create(appliedPath);
                ZstdPatch.Apply(baseImage, patch, applied, windowLog);
            });
            var identical = Sha256(appliedPath) == Sha256(newTar);

            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ours: delta_bytes={deltaSize} window_log={windowLog} gen_seconds={genSeconds:F1} peak_mib={Mib(genPeakBytes):F0} "
                + $"peak_mib_per_image_mib={genPeakBytes / (double)Math.Max(oldSize, newSize):F2} apply_seconds={applySeconds:F2} byte_identical={identical}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"full: raw_bytes={newSize} zstd19_bytes={fullCompressed}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"delta_vs_full_ratio={deltaSize / (double)fullCompressed:F4} (delta / zstd-compressed full; {100.0 * deltaSize / newSize:F2} % of the raw image)"));

            if (Which("bsdiff") is { } bsdiff)
            {
                var bsdiffPatch = Path.Combine(work, "delta.bsdiff");
                var (seconds, peakKib) = MeasureProcess(bsdiff, oldTar, newTar, bsdiffPatch);
                var bsdiffSize = new FileInfo(bsdiffPatch).Length;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"bsdiff: delta_bytes={bsdiffSize} gen_seconds={seconds:F1} peak_mib={(peakKib is null ? "n/a" : (peakKib.Value / 1024.0).ToString("F0", CultureInfo.InvariantCulture))} "
                    + $"peak_mib_per_image_mib={(peakKib is null ? "n/a" : (peakKib.Value * 1024.0 / Math.Max(oldSize, newSize)).ToString("F2", CultureInfo.InvariantCulture))}"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"delta_vs_bsdiff_ratio={deltaSize / (double)bsdiffSize:F3} (target <= 1.15)"));
            }
            else
            {
                output.WriteLine("bsdiff: not installed (apt-get install bsdiff); delta_vs_bsdiff_ratio=n/a");
            }

            return identical ? 0 : 1;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// The two tars: real files under <see cref="Roots"/>, sorted, up to the size; in the new one a share of the ELF
    /// binaries carries the bytes of another ELF binary from outside the tree (a rebuilt program), the rest as before.
    /// </summary>
    private static (string Old, string New, int Files, int Replaced, long ReplacedBytes) BuildPair(string work, DeltaBenchmarkOptions o)
    {
        var budget = (long)o.SizeMiB << 20;
        var candidates = Roots.Where(Directory.Exists)
            .SelectMany(root => Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }))
            // Files up to 1 MiB, so a tree of a few dozen MiB holds a few thousand of them, as a root filesystem does.
            .Where(path => new FileInfo(path) is { Exists: true, LinkTarget: null, Length: > 0 and <= 1 << 20 })
            .Order(StringComparer.Ordinal)
            .ToList();
        var random = new Random(o.Seed);
        var chosen = new List<string>();
        var spares = new List<string>();
        long total = 0;
        foreach (var path in candidates.OrderBy(_ => random.Next()))
        {
            var length = new FileInfo(path).Length;
            if (total + length <= budget)
            {
                chosen.Add(path);
                total += length;
            }
            else if (IsElf(path))
            {
                spares.Add(path);
            }
        }

        chosen.Sort(StringComparer.Ordinal);
        var binaries = chosen.Where(IsElf).ToList();
        var replacements = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var binary in binaries.OrderBy(_ => random.Next()).Take((int)(binaries.Count * o.ReplacedShare)))
        {
            // The spare closest in size stands in for the rebuilt program.
            var size = new FileInfo(binary).Length;
            var spare = spares.Where(s => !replacements.ContainsValue(s)).MinBy(s => Math.Abs(new FileInfo(s).Length - size));
            if (spare is not null)
            {
                replacements[binary] = spare;
            }
        }

        var oldTar = Path.Combine(work, "rootfs-old.tar");
        var newTar = Path.Combine(work, "rootfs-new.tar");
        WriteTar(oldTar, chosen, _ => null);
        WriteTar(newTar, chosen, path => replacements.GetValueOrDefault(path));
        return (oldTar, newTar, chosen.Count, replacements.Count, replacements.Keys.Sum(path => new FileInfo(path).Length));
    }

    private static void WriteTar(string tarPath, List<string> files, Func<string, string?> contentFrom)
    {
        using var stream = File.Create(tarPath);
        using var tar = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: false);
        var modified = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        foreach (var path in files)
        {
            using var content = File.OpenRead(contentFrom(path) ?? path);
            var entry = new PaxTarEntry(TarEntryType.RegularFile, path.TrimStart('/'))
            {
                DataStream = content,
                ModificationTime = modified,
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            };
            tar.WriteEntry(entry);
        }
    }

    private static bool IsElf(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return file.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual((ReadOnlySpan<byte>)[0x7F, (byte)'E', (byte)'L', (byte)'F']);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long CompressedSize(byte[] bytes, int level)
    {
        using var compressor = new Compressor(level);
        return compressor.Wrap(bytes).Length;
    }

    /// <summary>Seconds, and this process's peak resident memory above what it held before (Linux: VmHWM after resetting it).</summary>
    private static (double Seconds, long PeakBytes) MeasureInProcess(Action action)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var before = Environment.WorkingSet;
        TryResetPeak();
        var clock = Stopwatch.StartNew();
        action();
        var seconds = clock.Elapsed.TotalSeconds;
        var peak = ReadPeakResidentBytes() ?? Environment.WorkingSet;
        return (seconds, Math.Max(0, peak - before));
    }

    private static void TryResetPeak()
    {
        try
        {
            // "5" resets the peak resident set size of this process (proc(5), /proc/pid/clear_refs).
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static long? ReadPeakResidentBytes()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Seconds of a child process, and its peak resident KiB through GNU time when present.</summary>
    private static (double Seconds, long? PeakKib) MeasureProcess(string program, params string[] args)
    {
        var gnuTime = File.Exists("/usr/bin/time") ? "/usr/bin/time" : null;
        var start = gnuTime is null
            ? new ProcessStartInfo(program, args)
            : new ProcessStartInfo(gnuTime, ["-f", "%M", program, .. args]);
        start.RedirectStandardError = true;
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var seconds = clock.Elapsed.TotalSeconds;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} exited {process.ExitCode}: {errors}");
        }

        var last = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        return (seconds, gnuTime is not null && long.TryParse(last, CultureInfo.InvariantCulture, out var kib) ? kib : null);
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

    private static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    private static double Mib(long bytes) => bytes / (1024.0 * 1024);
}
