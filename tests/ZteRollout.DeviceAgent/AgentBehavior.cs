namespace ZteRollout.DeviceAgent;

/// <summary>What a simulated device says about itself, which failures it injects, and how patient it is.</summary>
public sealed record AgentBehavior
{
    // Facts reported at check-in; eligibility and pre-flight checks on the server read them.
    public string Model { get; init; } = "SIM-1";

    public string HardwareRevision { get; init; } = "R1";

    public string Region { get; init; } = "EU";

    public string Carrier { get; init; } = "sim-carrier";

    public uint BatteryPercent { get; init; } = 80;

    public ulong FreeStorageBytes { get; init; } = 8UL << 30;

    public string AgentVersion { get; init; } = "zte-rollout-sim-agent/1";

    /// <summary>Writing the inactive slot fails: the agent reports FAILED with <c>E_INSTALL_WRITE</c>.</summary>
    public bool FailInstall { get; init; }

    /// <summary>The new slot fails its boot health check: the device boots back and reports ROLLED_BACK <c>E_BOOT_HEALTHCHECK</c>.</summary>
    public bool RollBackAfterReboot { get; init; }

    /// <summary>One bit of the download flips before verification: the agent reports FAILED <c>E_VERIFY_SHA256</c>.</summary>
    public bool CorruptDownload { get; init; }

    /// <summary>
    /// Cuts the download stream once, after this many bytes of the run (possibly mid-chunk), then reconnects
    /// and resumes from the bytes held. Null or 0: no interruption.
    /// </summary>
    public long? InterruptDownloadAfterBytes { get; init; }

    /// <summary>Reports DOWNLOADING progress each time this many more bytes arrive; 0 reports only at (re)connect.</summary>
    public long ProgressReportIntervalBytes { get; init; }

    /// <summary>Attempts per call (and download reconnects) on transient gRPC errors before giving up.</summary>
    public int MaxAttempts { get; init; } = 8;

    /// <summary>First retry delay; it doubles per attempt (with jitter) up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Deadline of each unary call; a hung call becomes DeadlineExceeded and is retried.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline of one download stream; when it passes the agent resumes on a new stream.</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromMinutes(10);
}
