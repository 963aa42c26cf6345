namespace MLNetCnn.Serving;

/// <summary>
/// Lets a model be disposed while a <see cref="ScoringEnginePool{TData, TPrediction}"/> scores with it: predictions enter
/// the gate, and closing it (the model's <c>Dispose</c>) waits for those in flight, after which predictions are refused
/// with an <see cref="ObjectDisposedException"/>. Without it, ONNX Runtime's session was freed under a running
/// prediction: the process died (SIGSEGV or "corrupted double-linked list") in 6 of 14 tries.
/// </summary>
internal sealed class ScoringGate
{
    private readonly object _lock = new();
    private int _active;
    private bool _closed;

    /// <summary>True once <see cref="Close"/> has begun.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _closed;
            }
        }
    }

    /// <summary>Enters for one prediction; false once the gate is closed.</summary>
    public bool TryEnter()
    {
        lock (_lock)
        {
            if (_closed)
            {
                return false;
            }

            _active++;
            return true;
        }
    }

    /// <summary>Leaves after a prediction entered with <see cref="TryEnter"/>.</summary>
    public void Exit()
    {
        lock (_lock)
        {
            if (--_active == 0)
            {
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>
    /// The error for a use of a disposed model. Found by an outside sweep: ML.NET's <c>PredictionEngine</c> owns the model it
    /// was created over (<c>PredictionEngineOptions.OwnsTransformer</c> is true by default), so <c>using var engine =
    /// mlContext.Model.CreatePredictionEngine(model)</c>, as many samples write it, disposes the model with the engine, and
    /// the next use said only "The model was disposed" to code that never called its <c>Dispose</c>.
    /// </summary>
    /// <param name="objectName">The disposed object's type name.</param>
    /// <param name="remedy">How to get a model again ("load it again to score.").</param>
    public static ObjectDisposedException Disposed(string objectName, string remedy) => new(
        objectName,
        "The model was disposed: by its Dispose, or by disposing a PredictionEngine created over it (ML.NET's engines dispose " +
        "their model with them unless created with new PredictionEngineOptions { OwnsTransformer = false }; the engines of " +
        "mlContext.CnnServing().CreatePool do not). " + remedy);

    /// <summary>Refuses new predictions and waits for those in flight to finish.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            while (_active > 0)
            {
                Monitor.Wait(_lock);
            }
        }
    }
}

/// <summary>A model whose predictions can pass through a <see cref="ScoringGate"/>.</summary>
internal interface IGatedModel
{
    /// <summary>The gate its <c>Dispose</c> closes.</summary>
    ScoringGate Gate { get; }
}
