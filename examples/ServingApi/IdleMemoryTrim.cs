namespace MLNetCnn.Examples.ServingApi;

/// <summary>
/// Gives memory back once a burst is over. The garbage collector runs only when something allocates, so an idle
/// service would keep the bodies of its last burst (up to 8 MiB each, in the large-object heap) for as long as it
/// stays idle. When the last request in flight ends and none follows for <see cref="Delay"/>, one aggressive
/// collection compacts the heap and returns the freed pages to the operating system.
/// </summary>
public sealed class IdleMemoryTrim : IDisposable
{
    /// <summary>Quiet time after the last request before the collection.</summary>
    public static readonly TimeSpan Delay = TimeSpan.FromSeconds(2);

    private readonly Timer _timer;
    private int _inFlight;

    /// <summary>Creates the trim; nothing runs until a request has ended.</summary>
    public IdleMemoryTrim() => _timer = new Timer(_ => Collect());

    /// <summary>Marks a request in flight until the returned scope is disposed.</summary>
    public Scope Enter()
    {
        Interlocked.Increment(ref _inFlight);
        return new Scope(this);
    }

    /// <inheritdoc/>
    public void Dispose() => _timer.Dispose();

    private void Exit()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0)
        {
            _timer.Change(Delay, Timeout.InfiniteTimeSpan);
        }
    }

    private void Collect()
    {
        if (Volatile.Read(ref _inFlight) == 0)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }

    /// <summary>One request in flight.</summary>
    public readonly struct Scope(IdleMemoryTrim owner) : IDisposable
    {
        /// <summary>Ends the request.</summary>
        public void Dispose() => owner.Exit();
    }
}
