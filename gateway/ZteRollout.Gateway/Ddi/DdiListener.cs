namespace ZteRollout.Gateway.Ddi;

/// <summary>The DDI listener's address: its port tells its connections (HTTP/1.1, DDI routes) from the gRPC ones.</summary>
public static class DdiListener
{
    /// <summary>The port of a DDI URL; null when the facade is off (no URL), 0 when the URL names none or port 0.</summary>
    public static int? PortOf(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return null;
        }

        // Kestrel's wildcard hosts ("*", "+") are not valid URI hosts; any host will do to read the port.
        var parsable = url.Replace("://*", "://any", StringComparison.Ordinal).Replace("://+", "://any", StringComparison.Ordinal);
        return Uri.TryCreate(parsable, UriKind.Absolute, out var uri) && uri.Port > 0 ? uri.Port : 0;
    }
}
