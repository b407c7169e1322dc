using SharpFuzz;
using ZteRollout.Fuzz;

// zte-rollout-fuzz TARGET                  one input on stdin; under afl-fuzz, SharpFuzz's fork server loop (fuzz.sh)
// zte-rollout-fuzz replay TARGET PATH...   every file (or every file in each folder) once; exit 1 on a finding
// zte-rollout-fuzz list                    the targets
// zte-rollout-fuzz seed CORPUS             write the binary seeds (device messages, signed manifests) into CORPUS/<target>
const int MaxInputBytes = 1 << 20;

switch (args)
{
    case ["list"]:
        foreach (var target in FuzzTarget.All)
        {
            Console.WriteLine($"{target.Name,-10} {target.Description}");
        }

        return 0;
    case ["seed", var corpus]:
        SeedCorpus.Write(corpus);
        return 0;
    case ["replay", var name, .. var paths] when FuzzTarget.Find(name) is { } target && paths.Length > 0:
        return Replay(target, paths);
    case [var name] when FuzzTarget.Find(name) is { } target:
        Fuzzer.Run(stream => target.Run(ReadInput(stream)));
        return 0;
    default:
        Console.Error.WriteLine("usage: zte-rollout-fuzz list | TARGET | replay TARGET PATH...; targets: "
            + string.Join(", ", FuzzTarget.All.Select(t => t.Name)));
        return 2;
}

static byte[] ReadInput(Stream stream)
{
    using var buffer = new MemoryStream();
    var chunk = new byte[64 * 1024];
    int read;
    while (buffer.Length < MaxInputBytes && (read = stream.Read(chunk, 0, chunk.Length)) > 0)
    {
        buffer.Write(chunk, 0, read);
    }

    return buffer.ToArray();
}

static int Replay(FuzzTarget target, string[] paths)
{
    var files = paths
        .SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p])
        .Where(f => !Path.GetFileName(f).StartsWith("README", StringComparison.Ordinal))
        .Order(StringComparer.Ordinal)
        .ToList();
    var findings = 0;
    foreach (var file in files)
    {
        try
        {
            target.Run(File.ReadAllBytes(file));
        }
        catch (Exception e)
        {
            findings++;
            Console.Error.WriteLine($"{target.Name}: {file}: {e.GetType().FullName}: {e.Message}");
            Console.Error.WriteLine(e.StackTrace);
        }
    }

    Console.WriteLine($"{target.Name}: {files.Count} inputs replayed, {findings} findings");
    return findings == 0 ? 0 : 1;
}
