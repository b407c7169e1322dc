namespace ZteRollout.Silo;

/// <summary>Behaviour of the grains; bound from the configuration section <c>Rollout:Silo</c>.</summary>
public sealed class RolloutSiloOptions
{
    public const string Section = "Rollout:Silo";

    /// <summary>Directory for the signing key (and, embedded, the database and blobs).</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Seconds a device is told to wait before its next check-in.</summary>
    public int CheckInIntervalSeconds { get; set; } = 300;

    /// <summary>Finished offers kept per device for operators.</summary>
    public int HistoryLimit { get; set; } = 20;

    /// <summary>How often each silo asks the campaign directory for a newer snapshot, besides being pushed one.</summary>
    public TimeSpan SnapshotPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a silo waits before it retries sending a device's counted outcomes.</summary>
    public TimeSpan OutboxRetryInterval { get; set; } = TimeSpan.FromSeconds(5);
}
