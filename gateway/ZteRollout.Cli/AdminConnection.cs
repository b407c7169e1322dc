using System.CommandLine;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ZteRollout.Admin.V1;
using ZteRollout.Shared;

namespace ZteRollout.Cli;

/// <summary>A command's input (an option's value, a file) is wrong; exits 1, like a usage error.</summary>
internal sealed class InputException(string message) : Exception(message);

/// <summary>
/// One gRPC channel to the gateway whose calls all carry the admin key, and the one place where a command's
/// failures become exit codes: 1 for bad input, 2 for an error the server returned, 130 for Ctrl-C.
/// </summary>
internal sealed class AdminConnection : IDisposable
{
    public const int InputError = 1;
    public const int ServerError = 2;
    public const int Interrupted = 130;

    private readonly GrpcChannel _channel;

    private AdminConnection(GrpcChannel channel, string apiKey)
    {
        _channel = channel;
        var invoker = channel.Intercept(headers =>
        {
            headers.Add("authorization", "Bearer " + apiKey);
            return headers;
        });
        Client = new RolloutAdmin.RolloutAdminClient(invoker);
    }

    public RolloutAdmin.RolloutAdminClient Client { get; }

    /// <summary>Runs a command against the gateway named by the global options and maps its failures to exit codes.</summary>
    public static Task<int> RunAsync(ParseResult parse, CancellationToken ct, Func<AdminConnection, Task<int>> command) =>
        RunAsync(ct, async () =>
        {
            using var connection = Open(parse, ResolveApiKey(parse) ?? throw new InputException(NoKey(parse)));
            return await command(connection);
        });

    /// <summary>Runs a command that decides itself whether it needs the gateway, and maps its failures to exit codes.</summary>
    public static async Task<int> RunAsync(CancellationToken ct, Func<Task<int>> command)
    {
        try
        {
            return await command();
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            return Interrupted;
        }
        catch (RpcException e)
        {
            Render.RpcError(e);
            return ServerError;
        }
        catch (Exception e) when (e is InputException or IOException or UnauthorizedAccessException)
        {
            Render.Error(e.Message);
            return InputError;
        }
    }

    /// <summary>A connection when an admin key is at hand; otherwise null, and <paramref name="noKey"/> says why.</summary>
    public static AdminConnection? TryOpen(ParseResult parse, out string? noKey)
    {
        var apiKey = ResolveApiKey(parse);
        noKey = apiKey is null ? NoKey(parse) : null;
        return apiKey is null ? null : Open(parse, apiKey);
    }

    private static AdminConnection Open(ParseResult parse, string apiKey)
    {
        var address = parse.GetRequiredValue(GlobalOptions.Gateway);
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new InputException($"--gateway '{address}' is not an http:// or https:// URL.");
        }

        // Campaign lists and device histories can be large; the default 4 MiB limit would cut them off.
        var channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20 });
        return new AdminConnection(channel, apiKey);
    }

    /// <summary>The key from --api-key, else ZTE_API_KEY, else the bootstrap key file a local server writes; null when none.</summary>
    private static string? ResolveApiKey(ParseResult parse)
    {
        if (parse.GetValue(GlobalOptions.ApiKey) is { } explicitKey && !string.IsNullOrWhiteSpace(explicitKey))
        {
            return explicitKey.Trim();
        }

        if (Environment.GetEnvironmentVariable("ZTE_API_KEY") is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment.Trim();
        }

        var keyFile = RolloutDataDirectory.AdminKeyFile(GlobalOptions.DataDirectory(parse));
        return File.Exists(keyFile) && File.ReadAllText(keyFile).Trim() is { Length: > 0 } fromFile ? fromFile : null;
    }

    private static string NoKey(ParseResult parse) =>
        $"no API key: pass --api-key, set ZTE_API_KEY, or point --data-dir at a server data directory "
        + $"({RolloutDataDirectory.AdminKeyFile(GlobalOptions.DataDirectory(parse))} not found; a local server creates it on its first start).";

    public void Dispose() => _channel.Dispose();
}
