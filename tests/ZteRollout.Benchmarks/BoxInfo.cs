using System.Runtime;
using System.Runtime.InteropServices;

namespace ZteRollout.Benchmarks;

/// <summary>The machine a figure was measured on, printed first so a figure is never read without it.</summary>
internal static class BoxInfo
{
    public static void Print(TextWriter output)
    {
        var memoryGiB = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);
        output.WriteLine(
            $"box: cores={Environment.ProcessorCount} memory_gib={memoryGiB:F1} runtime=\"{RuntimeInformation.FrameworkDescription}\" " +
            $"os=\"{RuntimeInformation.OSDescription}\" gc={(GCSettings.IsServerGC ? "server" : "workstation")}");
        output.WriteLine("note: client, orchestrator and baseline server all run in this one process and share these cores.");
    }
}
