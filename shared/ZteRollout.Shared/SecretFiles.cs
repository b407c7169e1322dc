namespace ZteRollout.Shared;

/// <summary>
/// Files that hold secrets (keys) and the directory that holds them: owner-only from the moment they exist, and
/// written whole or not at all. Every process that creates a key file goes through here (docs/security.md).
/// </summary>
public static class SecretFiles
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OtherAccess = UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Creates <paramref name="path"/> holding <paramref name="contents"/>, readable and writable by its owner only.
    /// The bytes go to a temp file created with those permissions (never a moment with the default ones) and the temp
    /// file is renamed into place, so a crash never leaves half a key. False when the file already existed (another
    /// process sharing the directory created it first): the caller then reads that one.
    /// </summary>
    public static bool TryCreate(string path, ReadOnlySpan<byte> contents)
    {
        CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (File.Exists(path))
        {
            return false;
        }

        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = OwnerReadWrite;
        }

        try
        {
            using (var file = new FileStream(temp, create))
            {
                file.Write(contents);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>
    /// Creates a directory for secrets owner-only (0700). An existing one keeps its owner and group permissions but
    /// loses any access by others; returns a warning to show when that was not possible (null when all is well).
    /// </summary>
    public static string? CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return null;
        }

        if (!Directory.Exists(path))
        {
            Directory.CreateDirectory(path, OwnerOnlyDirectory);
            return null;
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & OtherAccess) == 0)
        {
            return null;
        }

        try
        {
            File.SetUnixFileMode(path, mode & ~OtherAccess);
            return null;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return $"{path} is accessible to every user of this machine and its permissions cannot be changed ({e.Message}); make it owner-only";
        }
    }

    /// <summary>Takes access by others away from an existing file (a database file its driver created with the default permissions).</summary>
    public static void RemoveOtherAccess(string path)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(path))
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & OtherAccess) != 0)
            {
                File.SetUnixFileMode(path, mode & ~OtherAccess);
            }
        }
    }
}
