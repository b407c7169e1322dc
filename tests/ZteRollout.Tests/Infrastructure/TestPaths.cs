using System.Net;
using System.Net.Sockets;

namespace ZteRollout.Tests.Infrastructure;

/// <summary>Temp directories and free loopback ports for tests that start real servers.</summary>
public static class TestPaths
{
    public static string NewTempDirectory(string purpose)
    {
        var path = Path.Combine(Path.GetTempPath(), "zte-tests", $"{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>The repository this test assembly was built from: the nearest folder above it with ZteRollout.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ZteRollout.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No ZteRollout.sln above {AppContext.BaseDirectory}.");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a stopping process; the temp folder is cleaned by the OS eventually.
        }
    }
}
