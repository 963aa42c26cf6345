using TorchSharp.Modules;

namespace MLNetCnn.Tricks.Optimization;

/// <summary>Builds the SGD optimizer, optionally with the "no bias decay" split.</summary>
public static class SgdFactory
{
    /// <summary>
    /// The "no bias decay" split (Bag of Tricks section 3.1): weight decay applies to the weights of
    /// convolution and linear layers only. Those are exactly the parameters with more than one
    /// dimension; biases and batch-norm gamma and beta are 1-dimensional.
    /// </summary>
    public static (IReadOnlyList<(string Name, Parameter Parameter)> Decay, IReadOnlyList<(string Name, Parameter Parameter)> NoDecay) SplitForDecay(IEnumerable<(string Name, Parameter Parameter)> parameters)
    {
        var decay = new List<(string, Parameter)>();
        var noDecay = new List<(string, Parameter)>();
        foreach (var p in parameters)
        {
            (p.Parameter.dim() > 1 ? decay : noDecay).Add(p);
        }

        return (decay, noDecay);
    }

    /// <summary>
    /// SGD with momentum over <paramref name="parameters"/>. With <paramref name="noBiasDecay"/> the
    /// 1-dimensional parameters form a second group with weight decay 0.
    /// </summary>
    public static MomentumSgd Create(IEnumerable<(string Name, Parameter Parameter)> parameters, double learningRate, double momentum, bool nesterov, double weightDecay, bool noBiasDecay)
    {
        var all = parameters.Where(p => p.Parameter.requires_grad).ToList();
        if (!noBiasDecay || weightDecay == 0)
        {
            return new MomentumSgd([new SgdParameterGroup(all.Select(p => p.Parameter).ToList(), weightDecay)], learningRate, momentum, nesterov);
        }

        var (decay, noDecay) = SplitForDecay(all);
        return new MomentumSgd(
            [
                new SgdParameterGroup(decay.Select(p => p.Parameter).ToList(), weightDecay),
                new SgdParameterGroup(noDecay.Select(p => p.Parameter).ToList(), 0),
            ],
            learningRate,
            momentum,
            nesterov);
    }
}
