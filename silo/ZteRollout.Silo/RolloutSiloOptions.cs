namespace ZteRollout.Silo;

/// <summary>Behaviour of the grains; bound from the configuration section <c>Rollout:Silo</c>.</summary>
public sealed class RolloutSiloOptions
{
    public const string Section = "Rollout:Silo";

    /// <summary>Directory for the signing key (and, embedded, the database and blobs).</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Seconds a device is told to wait before its next check-in.</summary>
    public int CheckInIntervalSeconds { get; set; } = 300;

    /// <summary>
    /// Finished offers kept in a device's state for operators (without their manifests). Every offer's outcome also
    /// lives in its campaign's ledger row; the cap keeps the state, and so each write, small.
    /// </summary>
    public int HistoryLimit { get; set; } = 5;

    /// <summary>
    /// How long a device grain stays in memory after its last call. A node holds every registered device in the
    /// database but only the recently active ones in memory; a device polling every few minutes stays active.
    /// </summary>
    public TimeSpan DeviceIdleTime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How often a device's last-seen time goes to its registry row (at most once per interval per activation, as a
    /// row change nobody waits for). Large fleets whose device grains leave memory between polls raise it
    /// (docs/scale.md).
    /// </summary>
    public TimeSpan LastSeenInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How often a campaign's stats shards re-read their ledger rows. It bounds how long an outcome whose delivery to
    /// the shard was lost (its silo died after the device's commit) stays uncounted.
    /// </summary>
    public TimeSpan StatsReconcileInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often each silo asks the campaign directory for a newer snapshot, besides being pushed one.</summary>
    public TimeSpan SnapshotPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Most DOWNLOADING progress reports one offer takes (default 10,000); more get ResourceExhausted. Every other step
    /// moves the offer forward once, so with this bound the reports an offer takes are bounded too.
    /// </summary>
    public int MaxProgressReportsPerOffer { get; set; } = 10_000;

    /// <summary>How long a silo waits before it retries sending a device's counted outcomes.</summary>
    public TimeSpan OutboxRetryInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a device's ack waits for the stats shards to take its stored outcome. Past it the device is answered
    /// on the durable ledger row alone and the delivery goes on (a shard re-activating after a silo death can take
    /// longer than a device's retry budget); its counts then follow within the shard's re-read of its rows.
    /// </summary>
    public TimeSpan OutcomeDeliveryWait { get; set; } = TimeSpan.FromSeconds(2);
}
