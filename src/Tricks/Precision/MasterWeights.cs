using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Precision;

/// <summary>
/// Mixed precision without autocast (TorchSharp has none): the weights and biases of every convolution
/// and linear layer are replaced by low-precision copies for the forward and backward passes, while
/// float32 master copies are what the optimizer updates. Batch-norm layers keep their float32
/// parameters (libtorch normalizes low-precision inputs with float32 statistics), so their parameters
/// are their own masters. In float32 mode the model's parameters are the masters and nothing is copied.
/// </summary>
public sealed class MasterWeights : IDisposable
{
    private readonly List<Entry> _entries = new();
    private bool _detached;

    /// <summary>Takes over the parameters of <paramref name="model"/> for training at <paramref name="precision"/>.</summary>
    public MasterWeights(nn.Module model, TrainingPrecision precision)
    {
        Precision = precision;
        ComputeType = precision switch
        {
            TrainingPrecision.BFloat16 => ScalarType.BFloat16,
            TrainingPrecision.Float16 => ScalarType.Float16,
            _ => ScalarType.Float32,
        };

        var lowPrecisionLayers = new Dictionary<string, nn.Module>(StringComparer.Ordinal);
        if (ComputeType != ScalarType.Float32)
        {
            foreach (var (name, module) in model.named_modules())
            {
                if (module is Convolution or Linear)
                {
                    lowPrecisionLayers[name] = module;
                }
            }
        }

        foreach (var (name, parameter) in model.named_parameters().ToList())
        {
            int dot = name.LastIndexOf('.');
            string owner = dot < 0 ? string.Empty : name[..dot];
            string field = name[(dot + 1)..];
            if (lowPrecisionLayers.TryGetValue(owner, out var layer) && field is "weight" or "bias")
            {
                var master = new Parameter(parameter.detach().clone(), parameter.requires_grad);
                var low = new Parameter(parameter.detach().to(ComputeType), parameter.requires_grad);
                SetParameter(layer, field, low); // the setter disposes the float32 original; the master is a copy
                _entries.Add(new Entry(name, master, layer, field, low));
            }
            else
            {
                _entries.Add(new Entry(name, parameter, null, field, null));
            }
        }
    }

    /// <summary>The precision the layers compute in.</summary>
    public TrainingPrecision Precision { get; }

    /// <summary>The dtype inputs must be cast to before the forward pass.</summary>
    public ScalarType ComputeType { get; }

    /// <summary>The float32 parameters, by state_dict name, that the optimizer updates.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Masters => _entries.Select(e => (e.Name, e.Master)).ToList();

    /// <summary>
    /// Moves the low-precision gradients onto the masters as float32, divided by <paramref name="lossScale"/>,
    /// and clears them. Returns false when any gradient is NaN or infinite (the masters then get no update).
    /// </summary>
    public bool GradientsToMasters(double lossScale = 1)
    {
        using var scope = NewDisposeScope();
        using var scale = lossScale.ToScalar(); // held across the native calls: see Scalars
        Tensor? anyBad = null;
        foreach (var e in _entries)
        {
            if (e.Low is null)
            {
                if (lossScale != 1 && e.Master.grad is { } g)
                {
                    g.div_(scale);
                }
            }
            else if (e.Low.grad is { } lowGrad)
            {
                var grad = lowGrad.to(ScalarType.Float32);
                if (lossScale != 1)
                {
                    grad = grad.div_(scale);
                }

                if (e.Master.grad is { } existing)
                {
                    existing.copy_(grad);
                }
                else
                {
                    e.Master.grad = grad.MoveToOuterDisposeScope();
                }

                e.Low.grad = null;
            }

            if (lossScale != 1 && e.Master.grad is { } check)
            {
                var bad = check.isfinite().logical_not().any();
                anyBad = anyBad is null ? bad : anyBad.logical_or(bad);
            }
        }

        return anyBad is null || !anyBad.item<bool>();
    }

    /// <summary>Copies the masters into the low-precision layer weights (after the optimizer step).</summary>
    public void MastersToLayers()
    {
        using var noGrad = no_grad();
        foreach (var e in _entries)
        {
            e.Low?.copy_(e.Master);
        }
    }

    /// <summary>Clears every master gradient.</summary>
    public void ZeroGradients()
    {
        foreach (var e in _entries)
        {
            e.Master.grad = null;
            if (e.Low is not null)
            {
                e.Low.grad = null;
            }
        }
    }

    /// <summary>Puts float32 copies of the masters back into the layers: the model is plain float32 again. Idempotent.</summary>
    public void Detach()
    {
        if (_detached)
        {
            return;
        }

        _detached = true;
        foreach (var e in _entries.Where(e => e.Layer is not null))
        {
            SetParameter(e.Layer!, e.Field, new Parameter(e.Master.detach().clone(), e.Master.requires_grad));
        }
    }

    /// <summary>Detaches and releases the master copies.</summary>
    public void Dispose()
    {
        Detach();
        foreach (var e in _entries.Where(e => e.Layer is not null))
        {
            e.Master.Dispose();
        }

        _entries.Clear();
    }

    private static void SetParameter(nn.Module layer, string field, Parameter value)
    {
        switch (layer, field)
        {
            case (Convolution conv, "weight"):
                conv.weight = value;
                break;
            case (Convolution conv, "bias"):
                conv.bias = value;
                break;
            case (Linear linear, "weight"):
                linear.weight = value;
                break;
            case (Linear linear, "bias"):
                linear.bias = value;
                break;
            default:
                throw new InvalidOperationException($"No low-precision handling for '{field}' of {layer.GetType().Name}.");
        }
    }

    private sealed record Entry(string Name, Parameter Master, nn.Module? Layer, string Field, Parameter? Low);
}
