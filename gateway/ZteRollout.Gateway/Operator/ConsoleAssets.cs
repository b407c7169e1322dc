using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace ZteRollout.Gateway.Operator;

/// <summary>
/// The console's script, shipped inside the gateway assembly (embedded resource): htmx 2.0.11, 0BSD, vendored from the
/// npm package htmx.org with its licence beside it (Operator/Assets). Nothing is fetched from the internet at run time.
/// </summary>
public static class ConsoleAssets
{
    public const string HtmxPath = "/console/assets/htmx-2.0.11.min.js";

    public const string HtmxLicensePath = "/console/assets/htmx-LICENSE.txt";

    private static readonly Lazy<byte[]> Htmx = new(() => Read("htmx-2.0.11.min.js"));

    private static readonly Lazy<byte[]> HtmxLicense = new(() => Read("htmx-LICENSE.txt"));

    public static RouteGroupBuilder MapConsoleAssets(this RouteGroupBuilder console)
    {
        // The file name carries the version, so browsers may keep it for a long time.
        console.MapGet("/assets/htmx-2.0.11.min.js", (HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
            return Results.Bytes(Htmx.Value, "text/javascript; charset=utf-8");
        });
        console.MapGet("/assets/htmx-LICENSE.txt", () => Results.Bytes(HtmxLicense.Value, "text/plain; charset=utf-8"));
        return console;
    }

    private static byte[] Read(string name)
    {
        using var stream = typeof(ConsoleAssets).Assembly.GetManifestResourceStream("ZteRollout.Console." + name)
            ?? throw new InvalidOperationException($"the console asset '{name}' is missing from {typeof(ConsoleAssets).Assembly.GetName().Name}");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
