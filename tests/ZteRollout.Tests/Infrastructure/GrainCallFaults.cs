namespace ZteRollout.Tests.Infrastructure;

/// <summary>
/// Faults injected into grain calls inside a test cluster's silos: a call to a given interface method fails a set
/// number of times, or is held until the test lets it go. One instance is shared by every silo of a cluster (they
/// run in the test's process), registered as an incoming and an outgoing grain call filter by <see cref="Install"/>.
/// A rule applies to incoming calls (the target grain's side) or outgoing ones (the caller's side, which also
/// covers calls to grain observers such as the silos' snapshot caches).
/// </summary>
public sealed class GrainCallFaults
{
    private readonly Lock _lock = new();
    private readonly List<Rule> _rules = [];

    /// <summary>Adds the filters to a silo; pass as (part of) <c>RolloutCluster.StartAsync</c>'s silo configuration.</summary>
    public void Install(ISiloBuilder silo)
    {
        silo.AddIncomingGrainCallFilter(context => InvokeAsync(context, outgoing: false, context.Invoke));
        silo.AddOutgoingGrainCallFilter(context => InvokeAsync(context, outgoing: true, context.Invoke));
    }

    /// <summary>The next <paramref name="times"/> calls of <typeparamref name="T"/>.<paramref name="method"/> fail with a timeout (an unknown outcome).</summary>
    public Rule Fail<T>(string method, int times, bool outgoing = false, Func<GrainId, bool>? target = null) =>
        Add(new Rule(typeof(T), method, outgoing, target, times, hold: null));

    /// <summary>Calls of <typeparamref name="T"/>.<paramref name="method"/> wait until <see cref="Rule.Release"/>.</summary>
    public Rule Hold<T>(string method, bool outgoing = false, Func<GrainId, bool>? target = null) =>
        Add(new Rule(typeof(T), method, outgoing, target, int.MaxValue, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)));

    /// <summary>Removes every rule (held calls are let go first).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            foreach (var rule in _rules)
            {
                rule.Release();
            }

            _rules.Clear();
        }
    }

    private Rule Add(Rule rule)
    {
        lock (_lock)
        {
            _rules.Add(rule);
        }

        return rule;
    }

    private async Task InvokeAsync(IGrainCallContext context, bool outgoing, Func<Task> invoke)
    {
        Rule? match = null;
        lock (_lock)
        {
            foreach (var rule in _rules)
            {
                if (rule.Outgoing == outgoing && rule.Matches(context) && rule.TryTake())
                {
                    match = rule;
                    break;
                }
            }
        }

        if (match?.Gate is { } gate)
        {
            await gate.Task;
        }
        else if (match is not null)
        {
            throw new TimeoutException($"injected fault: {context.Request.GetInterfaceName()}.{context.Request.GetMethodName()} to {context.TargetId}");
        }

        await invoke();
    }

    /// <summary>One injected fault; counts the calls it caught.</summary>
    public sealed class Rule(Type @interface, string method, bool outgoing, Func<GrainId, bool>? target, int times, TaskCompletionSource? hold)
    {
        private int _caught;

        internal bool Outgoing => outgoing;

        internal TaskCompletionSource? Gate => hold;

        /// <summary>Calls this rule caught (failed or held) so far.</summary>
        public int Caught => Volatile.Read(ref _caught);

        /// <summary>Lets every held call (and every later one) through.</summary>
        public void Release() => hold?.TrySetResult();

        internal bool Matches(IGrainCallContext context) =>
            context.Request.GetInterfaceType() == @interface
            && string.Equals(context.Request.GetMethodName(), method, StringComparison.Ordinal)
            && (target is null || target(context.TargetId));

        internal bool TryTake()
        {
            if (hold is { Task.IsCompleted: true } || _caught >= times)
            {
                return false;
            }

            Interlocked.Increment(ref _caught);
            return true;
        }
    }
}
