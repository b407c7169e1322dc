namespace ZteRollout.Gateway.Ddi;

/// <summary>The hawkBit DDI facade (docs/ddi.md); bound from the configuration section <c>Rollout:Ddi</c>.</summary>
public sealed class DdiOptions
{
    public const string Section = "Rollout:Ddi";

    /// <summary>
    /// Where the DDI listener serves HTTP/1.1 (https with a configured Kestrel certificate). The embedded node and the
    /// gateway default to <c>http://127.0.0.1:8080</c>; an empty value turns the facade off. Needs a fixed port.
    /// </summary>
    public string? Url { get; set; }

    /// <summary>The one tenant served (compared case-insensitively, as hawkBit does).</summary>
    public string Tenant { get; set; } = "default";

    /// <summary>
    /// Base of the links handed to agents (e.g. <c>https://fota.example.com</c> behind a proxy); the request's own
    /// scheme and host when unset.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>The <c>sleep</c> told to agents; the check-in interval the device grain decides when unset.</summary>
    public TimeSpan? PollingInterval { get; set; }

    /// <summary>Largest request body accepted (feedback, configData), in bytes.</summary>
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Most attributes one configData may carry (hawkBit's quota is 100).</summary>
    public int MaxAttributes { get; set; } = 100;

    /// <summary>
    /// Whether a caller with a gateway token may poll for a controller id that is not registered, registering it
    /// (with a credential nobody holds: the device is reachable through gateway tokens only). Off by default.
    /// </summary>
    public bool GatewayTokenAutoRegister { get; set; }

    /// <summary>Which configData attribute carries which device fact.</summary>
    public DdiAttributeNames Attributes { get; set; } = new();
}

/// <summary>
/// The configData attribute names read as device facts. Model and current version are required for eligibility;
/// the others are optional (battery and free storage are checked only when sent).
/// </summary>
public sealed class DdiAttributeNames
{
    public string Model { get; set; } = "model";

    public string HardwareRevision { get; set; } = "hw_revision";

    public string Region { get; set; } = "region";

    public string Carrier { get; set; } = "carrier";

    public string CurrentVersion { get; set; } = "version";

    /// <summary>Values <c>A</c>/<c>B</c> (any case), or a name ending in <c>0</c>/<c>1</c> or <c>a</c>/<c>b</c> (rauc's <c>rootfs.0</c>).</summary>
    public string ActiveSlot { get; set; } = "slot";

    public string BatteryPercent { get; set; } = "battery_percent";

    public string FreeStorageBytes { get; set; } = "free_storage_bytes";

    public string AgentVersion { get; set; } = "agent_version";

    /// <summary>The attribute name of a domain field (as <see cref="Shared.Devices.DeviceFactsPatch.ApplyTo"/> names them).</summary>
    public string NameOf(string field) => field switch
    {
        "model" => Model,
        "current_version" => CurrentVersion,
        _ => field,
    };
}
