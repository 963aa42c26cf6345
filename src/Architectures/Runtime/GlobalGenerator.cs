namespace MLNetCnn.Architectures.Runtime;

/// <summary>
/// libtorch's default random generator is one per process. A training run seeds it, initializes its weights from it and
/// draws every step's dropout from it, so two runs at once in one process drew from each other's sequence: found by an
/// outside sweep, two <c>Fit</c>s on two threads, each with <c>new MLContext(seed: 1)</c>, gave a different model on
/// every try and never the one a run alone gives. Runs therefore take turns: each holds the generator from its seed to
/// its last step, and a second one waits, saying so. (On a CPU two runs at once would also share the same cores.)
/// </summary>
public static class GlobalGenerator
{
    private static readonly object Gate = new();

    /// <summary>
    /// Holds the generator for the calling thread until the returned value is disposed (on the same thread). Re-entrant:
    /// a run that holds it may call code that takes it again.
    /// </summary>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <param name="log">Told once when the run has to wait for another.</param>
    /// <exception cref="OperationCanceledException">Cancelled while waiting.</exception>
    public static Hold Take(CancellationToken cancellationToken = default, Action<string>? log = null)
    {
        if (!Monitor.TryEnter(Gate))
        {
            log?.Invoke("Another training run in this process is using libtorch's process-wide random generator; this one waits for it to end, so that both stay reproducible.");
            while (!Monitor.TryEnter(Gate, TimeSpan.FromMilliseconds(200)))
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        return default;
    }

    /// <summary>The generator held by <see cref="Take"/>; disposing releases it.</summary>
    public readonly struct Hold : IDisposable
    {
        /// <summary>Releases the generator.</summary>
        public void Dispose() => Monitor.Exit(Gate);
    }
}
