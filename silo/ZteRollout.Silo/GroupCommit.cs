namespace ZteRollout.Silo;

/// <summary>
/// Serializes a reentrant grain's state writes and lets changes made while a write runs share the next one.
/// A caller that changed state awaits <see cref="CommitAsync"/>, which completes once a write that started after
/// its change has finished: its change is durable, yet N concurrent callers cost about two writes, not N.
/// Used only on a grain's single-threaded scheduler, so it needs no locks.
/// </summary>
public sealed class GroupCommit(Func<Task> write)
{
    private TaskCompletionSource? _pending;
    private bool _writing;

    public Task CommitAsync()
    {
        var batch = _pending ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_writing)
        {
            _ = PumpAsync();
        }

        return batch.Task;
    }

    private async Task PumpAsync()
    {
        _writing = true;
        try
        {
            while (_pending is { } batch)
            {
                _pending = null;
                try
                {
                    await write();
                    batch.SetResult();
                }
                catch (Exception e)
                {
                    batch.SetException(e);
                }
            }
        }
        finally
        {
            _writing = false;
        }
    }
}
