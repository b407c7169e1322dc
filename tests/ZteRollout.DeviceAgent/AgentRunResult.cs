namespace ZteRollout.DeviceAgent;

/// <summary>How one check-in round ended.</summary>
public enum AgentOutcome
{
    /// <summary>The server had nothing for the device.</summary>
    NoUpdate,

    /// <summary>An update exists but pre-flight checks held it back.</summary>
    Deferred,

    /// <summary>The device runs the offered version from the new slot.</summary>
    Succeeded,

    /// <summary>Download, verification or install failed; reported FAILED.</summary>
    Failed,

    /// <summary>The new slot failed its health check; the device runs the old version again.</summary>
    RolledBack,

    /// <summary>The device declined the offer before downloading (bad signature, downgrade, below its security floor, wrong delta base...); reported FAILED.</summary>
    Refused,

    /// <summary>
    /// The server withdrew the offer before its download began (its campaign was halted or cancelled meanwhile) and
    /// refused to go on with it; nothing was installed and there is nothing to report.
    /// </summary>
    Withdrawn,
}

/// <param name="Outcome">How the round ended.</param>
/// <param name="OfferId">The offer handled; null for NoUpdate and Deferred.</param>
/// <param name="BytesDownloaded">Package bytes received over the wire in this round (not those resumed from disk).</param>
/// <param name="ErrorCode">The error code reported for Failed, RolledBack and Refused.</param>
/// <param name="Detail">Human-readable detail (deferral reason, failure cause).</param>
/// <param name="NextCheckInSeconds">When the server asked the device to check in again.</param>
public sealed record AgentRunResult(
    AgentOutcome Outcome,
    string? OfferId,
    long BytesDownloaded,
    string? ErrorCode,
    string? Detail,
    uint NextCheckInSeconds);
