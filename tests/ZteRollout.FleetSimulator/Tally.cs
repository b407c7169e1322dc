using System.Collections.Concurrent;
using ZteRollout.DeviceAgent;

namespace ZteRollout.FleetSimulator;

/// <summary>Outcome counts of the run, updated by many agents at once.</summary>
internal sealed class Tally
{
    private const int KeptErrors = 10;
    private readonly int[] _outcomes = new int[Enum.GetValues<AgentOutcome>().Length];
    private readonly ConcurrentQueue<string> _errors = new();
    private int _offered;
    private int _errorCount;
    private long _bytes;

    public int Offered => Volatile.Read(ref _offered);

    public int Errors => Volatile.Read(ref _errorCount);

    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>The first few unexpected errors, enough to diagnose without flooding the terminal.</summary>
    public IEnumerable<string> FirstErrors => _errors;

    public int Count(AgentOutcome outcome) => Volatile.Read(ref _outcomes[(int)outcome]);

    public void Add(AgentRunResult result)
    {
        if (result.OfferId is not null)
        {
            Interlocked.Increment(ref _offered);
        }

        Interlocked.Add(ref _bytes, result.BytesDownloaded);
        Interlocked.Increment(ref _outcomes[(int)result.Outcome]);
    }

    public void AddError(string deviceId, Exception error)
    {
        if (Interlocked.Increment(ref _errorCount) <= KeptErrors)
        {
            _errors.Enqueue($"{deviceId}: {error.Message}");
        }
    }

    public string Progress(int total, TimeSpan elapsed)
    {
        var done = Enum.GetValues<AgentOutcome>().Sum(Count) + Errors;
        return $"[{elapsed.TotalSeconds,5:0}s] {done}/{total} done, succeeded={Count(AgentOutcome.Succeeded)} "
            + $"failed={Count(AgentOutcome.Failed)} rolled_back={Count(AgentOutcome.RolledBack)} "
            + $"refused={Count(AgentOutcome.Refused)} deferred={Count(AgentOutcome.Deferred)} errors={Errors}";
    }
}
