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
