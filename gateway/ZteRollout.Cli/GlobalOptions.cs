using System.CommandLine;
using ZteRollout.Shared;

namespace ZteRollout.Cli;

/// <summary>The options every command takes: where the server is, how to authenticate, how to print.</summary>
internal static class GlobalOptions
{
    public const string TableOutput = "table";
    public const string JsonOutput = "json";

    public static readonly Option<string> Gateway = new("--gateway")
    {
        Description = "Address of the rollout gateway (env ZTE_GATEWAY).",
        HelpName = "URL",
        DefaultValueFactory = _ => FromEnvironment("ZTE_GATEWAY") ?? "http://127.0.0.1:5080",
        Recursive = true,
    };

    // No DefaultValueFactory: help prints defaults, and a key must never appear in help output.
    public static readonly Option<string?> ApiKey = new("--api-key")
    {
        Description = "Admin API key (default: env ZTE_API_KEY, else the file <data-dir>/admin-api-key).",
        HelpName = "KEY",
        Recursive = true,
    };

    // No DefaultValueFactory: the default is resolved as the server resolves it (RolloutDataDirectory), at use.
    public static readonly Option<string?> DataDir = new("--data-dir")
    {
        Description = "Server data directory whose admin-api-key file is used when no key is given "
            + "(default: env ZTE_DATA_DIR, else $XDG_DATA_HOME/zte-rollout, else ~/.local/share/zte-rollout, as the server).",
        HelpName = "DIR",
        Recursive = true,
    };

    public static readonly Option<string> Output = new Option<string>("--output", "-o")
    {
        Description = "table for people, json (one protobuf JSON object per line) for scripts.",
        DefaultValueFactory = _ => TableOutput,
        Recursive = true,
    }.AcceptOnlyFromAmong(TableOutput, JsonOutput);

    public static void AddTo(RootCommand root)
    {
        root.Options.Add(Gateway);
        root.Options.Add(ApiKey);
        root.Options.Add(DataDir);
        root.Options.Add(Output);
    }

    public static bool WantsJson(ParseResult parse) => parse.GetValue(Output) == JsonOutput;

    /// <summary>The local server's data directory, found the way every ZteRollout process finds it.</summary>
    public static string DataDirectory(ParseResult parse) =>
        RolloutDataDirectory.Resolve(parse.GetValue(DataDir), Environment.GetEnvironmentVariable);

    private static string? FromEnvironment(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}
