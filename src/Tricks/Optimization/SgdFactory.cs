using TorchSharp.Modules;
using static TorchSharp.torch;

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
    /// 1-dimensional parameters form a second group with weight decay 0. That group is made with
    /// <see cref="SGD.Options"/>, which inherits the optimizer's learning rate, momentum and Nesterov
    /// flag; TorchSharp's <c>ParamGroup(ps, weight_decay: 0)</c> constructor would reset them.
    /// </summary>
    public static SGD Create(IEnumerable<(string Name, Parameter Parameter)> parameters, double learningRate, double momentum, bool nesterov, double weightDecay, bool noBiasDecay)
    {
        var all = parameters.Where(p => p.Parameter.requires_grad).ToList();
        if (!noBiasDecay || weightDecay == 0)
        {
            return optim.SGD(all.Select(p => p.Parameter), learningRate, momentum, 0, weightDecay, nesterov);
        }

        var (decay, noDecay) = SplitForDecay(all);
        var groups = new List<SGD.ParamGroup>
        {
            new(decay.Select(p => p.Parameter), new SGD.Options { weight_decay = weightDecay }),
            new(noDecay.Select(p => p.Parameter), new SGD.Options { weight_decay = 0 }),
        };
        return optim.SGD(groups, learningRate, momentum, 0, weightDecay, nesterov);
    }
}
