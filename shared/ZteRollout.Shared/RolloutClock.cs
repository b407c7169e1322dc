namespace ZteRollout.Shared;

/// <summary>
/// The clock every piece of rollout timing logic reads (soak times, deadlines, backoff). A dedicated type rather
/// than the container's <see cref="TimeProvider"/>, so tests can drive it with a fake clock without also faking
/// the time Orleans itself runs on.
/// </summary>
public sealed class RolloutClock(TimeProvider time)
{
    public static RolloutClock System { get; } = new(TimeProvider.System);

    public TimeProvider Time { get; } = time;

    public DateTimeOffset UtcNow => Time.GetUtcNow();
}
