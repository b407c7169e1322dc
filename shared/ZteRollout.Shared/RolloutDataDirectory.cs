namespace ZteRollout.Shared;

/// <summary>
/// Where a machine's ZteRollout data lives: the server keeps its SQLite file, keys, package blobs and the local admin
/// key there; the CLI and the fleet simulator read the admin key from it. Every process resolves it the same way, so
/// a server started from one folder and a client started from another agree without a flag.
/// </summary>
/// <remarks>
/// Not the current directory: <c>dotnet run --project</c> starts a program in its project's folder, so a relative
/// default would put the server's data in one place and have the clients look in another.
/// </remarks>
public static class RolloutDataDirectory
{
    public const string EnvironmentVariable = "ZTE_DATA_DIR";
    public const string AdminKeyFileName = "admin-api-key";

    /// <summary>The folder under the user's data home (XDG base directories).</summary>
    public const string FolderName = "zte-rollout";

    /// <summary>
    /// <c>--data-dir</c> (<paramref name="dataDirOption"/>), else <c>ZTE_DATA_DIR</c>, else <c>$XDG_DATA_HOME/zte-rollout</c>,
    /// else <c>$HOME/.local/share/zte-rollout</c>; always an absolute path. The environment is a parameter so this stays
    /// a pure function; processes pass <see cref="Environment.GetEnvironmentVariable(string)"/>.
    /// </summary>
    public static string Resolve(string? dataDirOption, Func<string, string?> environment)
    {
        if (NonEmpty(dataDirOption) is { } chosen)
        {
            return Path.GetFullPath(chosen);
        }

        if (NonEmpty(environment(EnvironmentVariable)) is { } fromEnvironment)
        {
            return Path.GetFullPath(fromEnvironment);
        }

        // The XDG specification says a relative XDG_DATA_HOME is invalid and must be ignored.
        if (NonEmpty(environment("XDG_DATA_HOME")) is { } dataHome && Path.IsPathFullyQualified(dataHome))
        {
            return Path.Combine(dataHome, FolderName);
        }

        var home = NonEmpty(environment("HOME")) ?? NonEmpty(environment("USERPROFILE"))
            ?? throw new InvalidOperationException(
                $"No data directory: HOME is not set; pass --data-dir DIR or set {EnvironmentVariable}.");
        return Path.Combine(home, ".local", "share", FolderName);
    }

    /// <summary>The file holding the local admin API key that an embedded server creates on its first start.</summary>
    public static string AdminKeyFile(string dataDirectory) => Path.Combine(dataDirectory, AdminKeyFileName);

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
