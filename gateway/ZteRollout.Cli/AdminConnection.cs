using System.CommandLine;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ZteRollout.Admin.V1;

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

    private const string KeyFileName = "admin-api-key";
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
    public static async Task<int> RunAsync(ParseResult parse, CancellationToken ct, Func<AdminConnection, Task<int>> command)
    {
        try
        {
            using var connection = Open(parse);
            return await command(connection);
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

    private static AdminConnection Open(ParseResult parse)
    {
        var address = parse.GetRequiredValue(GlobalOptions.Gateway);
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new InputException($"--gateway '{address}' is not an http:// or https:// URL.");
        }

        var apiKey = ResolveApiKey(parse.GetValue(GlobalOptions.ApiKey), parse.GetRequiredValue(GlobalOptions.DataDir));
        // Campaign lists and device histories can be large; the default 4 MiB limit would cut them off.
        var channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20 });
        return new AdminConnection(channel, apiKey);
    }

    /// <summary>The key from --api-key, else ZTE_API_KEY, else the bootstrap key file a local server writes.</summary>
    private static string ResolveApiKey(string? explicitKey, string dataDir)
    {
        if (!string.IsNullOrWhiteSpace(explicitKey))
        {
            return explicitKey.Trim();
        }

        if (Environment.GetEnvironmentVariable("ZTE_API_KEY") is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment.Trim();
        }

        var keyFile = Path.Combine(dataDir, KeyFileName);
        if (File.Exists(keyFile) && File.ReadAllText(keyFile).Trim() is { Length: > 0 } fromFile)
        {
            return fromFile;
        }

        throw new InputException($"no API key: pass --api-key, set ZTE_API_KEY, or point --data-dir at a server data directory ({keyFile} not found).");
    }

    public void Dispose() => _channel.Dispose();
}
