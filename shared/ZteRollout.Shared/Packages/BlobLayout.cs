namespace ZteRollout.Shared.Packages;

/// <summary>
/// Where package bytes live under a blob directory: <c>{root}/sha256/ab/abcdef…</c>, addressed by their SHA-256, and
/// temp files in <c>{root}/tmp</c> (same file system, so a finished blob is renamed into place). The gateway stores
/// uploads there and the silo stores the deltas it generates, so any gateway serves either.
/// </summary>
public static class BlobLayout
{
    public static string PathOf(string root, string sha256) => Path.Combine(root, "sha256", sha256[..2], sha256);

    public static string TempDirectory(string root) => Path.Combine(root, "tmp");
}
