using MLNetCnn.Tricks.Precision;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>
/// Early stopping's bookkeeping: the best epoch by <see cref="EarlyStopping"/>'s rule (Keras's: an improvement
/// is a score better than the best by more than MinDelta), a copy of its float32 master weights and buffers,
/// and the epochs since. The checkpoint keeps the copy (<see cref="Saved"/>); a resumed run replays the checkpoint's
/// history (<see cref="Resume"/>), so it keeps the best epoch, and the stop, of the run it continues.
/// </summary>
internal sealed class BestEpoch : IDisposable
{
    private readonly EarlyStopping _criteria;
    private readonly MasterWeights _masters;
    private readonly List<(Tensor Live, Tensor Saved)> _state;
    private double _bestScore = double.NegativeInfinity;
    private int _sinceBest;

    public BestEpoch(EarlyStopping criteria, MasterWeights masters, nn.Module model)
    {
        _criteria = criteria;
        _masters = masters;
        _state = Checkpoint.Tensors(masters, model).Select(t => (t.Tensor, t.Tensor.detach().clone())).ToList();
    }

    /// <summary>The best epoch so far (null before the first).</summary>
    public EpochMetrics? Best { get; private set; }

    /// <summary>The copy of the best epoch's masters and buffers, in <see cref="Checkpoint.Tensors"/> order.</summary>
    public IEnumerable<Tensor> Saved => _state.Select(s => s.Saved);

    /// <summary>Records an epoch (saving its weights when it is the new best); true when training should stop.</summary>
    public bool Record(EpochMetrics metrics)
    {
        var (improved, stop) = Observe(metrics);
        if (improved)
        {
            Copy(toSaved: true);
        }

        return stop;
    }

    /// <summary>
    /// Replays a resumed run's <paramref name="history"/>, whose best epoch's weights the checkpoint put in <see cref="Saved"/>
    /// (<paramref name="savedEpoch"/>; 0 when it held none). True when the run had already stopped. When the history's best
    /// is not the saved epoch (a checkpoint written without early stopping, or other criteria), early stopping starts
    /// afresh from the resumed epoch, and says so.
    /// </summary>
    public bool Resume(IReadOnlyList<EpochMetrics> history, int savedEpoch, Action<string>? log)
    {
        bool stop = false;
        foreach (var metrics in history)
        {
            stop = Observe(metrics).Stop;
        }

        if (Best is { } best && best.Epoch != savedEpoch)
        {
            log?.Invoke(FormattableString.Invariant($"the checkpoint holds no weights of epoch {best.Epoch}, the best by {_criteria.Describe(best)}: early stopping counts from epoch {history[^1].Epoch + 1}"));
            (Best, _bestScore, _sinceBest) = (null, double.NegativeInfinity, 0);
            return false;
        }

        return stop;
    }

    /// <summary>Puts the best epoch's weights and statistics back into the masters and the model's layers.</summary>
    public void Restore()
    {
        Copy(toSaved: false);
        _masters.MastersToLayers();
    }

    public void Dispose()
    {
        foreach (var (_, saved) in _state)
        {
            saved.Dispose();
        }
    }

    /// <summary>Keras's rule: an improvement is a score better than the best by more than MinDelta.</summary>
    private (bool Improved, bool Stop) Observe(EpochMetrics metrics)
    {
        double score = _criteria.Score(metrics);
        if (Best is null || score - _criteria.MinDelta > _bestScore)
        {
            _bestScore = score;
            _sinceBest = 0;
            Best = metrics;
            return (true, false);
        }

        return (false, ++_sinceBest >= _criteria.Patience);
    }

    private void Copy(bool toSaved)
    {
        using var noGrad = no_grad();
        foreach (var (live, saved) in _state)
        {
            (toSaved ? saved : live).copy_(toSaved ? live : saved);
        }
    }
}
