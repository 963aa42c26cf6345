using MLNetCnn.Tricks.Precision;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>
/// Early stopping's bookkeeping: the best epoch by <see cref="EarlyStopping"/>'s rule (Keras's: an improvement
/// is a score better than the best by more than MinDelta), a copy of its float32 master weights and buffers,
/// and the epochs since. After a resume it tracks the epochs run in this process only.
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

    /// <summary>Records an epoch (saving its weights when it is the new best); true when training should stop.</summary>
    public bool Record(EpochMetrics metrics)
    {
        double score = _criteria.Score(metrics);
        if (Best is null || score - _criteria.MinDelta > _bestScore)
        {
            _bestScore = score;
            _sinceBest = 0;
            Best = metrics;
            Copy(toSaved: true);
            return false;
        }

        return ++_sinceBest >= _criteria.Patience;
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

    private void Copy(bool toSaved)
    {
        using var noGrad = no_grad();
        foreach (var (live, saved) in _state)
        {
            (toSaved ? saved : live).copy_(toSaved ? live : saved);
        }
    }
}
