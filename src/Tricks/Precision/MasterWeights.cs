using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Tricks.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Precision;

/// <summary>
/// The training copies of a model's parameters, the one place where layers get other parameters for the
/// duration of training. Mixed precision without autocast (TorchSharp has none): the weights and biases of
/// every convolution and linear layer are replaced by low-precision copies for the forward and backward
/// passes, while float32 master copies are what the optimizer updates. Batch-norm layers keep their float32
/// parameters (libtorch normalizes low-precision inputs with float32 statistics), so their parameters are
/// their own masters. In float32 mode the model's parameters are the masters. With the channels-last
/// layout, convolution weights the layers compute with are channels-last copies (in float32 they are the
/// masters). <see cref="Detach"/> gives the layers plain float32, channels-first parameters back.
/// </summary>
public sealed class MasterWeights : IDisposable
{
    private readonly List<Entry> _entries = new();
    private bool _detached;

    /// <summary>Takes over the parameters of <paramref name="model"/> for training at <paramref name="precision"/>, convolution weights in <paramref name="layout"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="precision"/> or <paramref name="layout"/> is Auto (resolve it first).</exception>
    public MasterWeights(nn.Module model, TrainingPrecision precision, TensorLayout layout = TensorLayout.ChannelsFirst)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (precision == TrainingPrecision.Auto || layout == TensorLayout.Auto)
        {
            throw new ArgumentException($"Resolve Auto before taking over the weights (PrecisionPolicy, TensorLayouts); got {precision}, {layout}.");
        }

        Precision = precision;
        Layout = layout;
        ComputeType = precision switch
        {
            TrainingPrecision.BFloat16 => ScalarType.BFloat16,
            TrainingPrecision.Float16 => ScalarType.Float16,
            _ => ScalarType.Float32,
        };

        var layers = model.named_modules().Where(m => m.module is Convolution or Linear).ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        foreach (var (name, parameter) in model.named_parameters().ToList())
        {
            int dot = name.LastIndexOf('.');
            string owner = dot < 0 ? string.Empty : name[..dot];
            string field = name[(dot + 1)..];
            bool relaid = layout == TensorLayout.ChannelsLast && parameter.ndim == 4;
            if (!layers.TryGetValue(owner, out var layer) || field is not ("weight" or "bias") || (ComputeType == ScalarType.Float32 && !relaid))
            {
                _entries.Add(new Entry(name, parameter, null, field, null));
                continue;
            }

            using var computed = relaid ? MemoryLayout.ToChannelsLast(parameter.detach()) : parameter.detach().alias();
            if (ComputeType == ScalarType.Float32)
            {
                var master = new Parameter(computed.clone(), parameter.requires_grad); // channels-last float32: its own master
                SetParameter(layer, field, master); // the setter disposes the original
                _entries.Add(new Entry(name, master, layer, field, null));
            }
            else
            {
                var master = new Parameter(parameter.detach().clone(), parameter.requires_grad);
                var low = new Parameter(computed.to(ComputeType), parameter.requires_grad);
                SetParameter(layer, field, low); // the setter disposes the float32 original; the master is a copy
                _entries.Add(new Entry(name, master, layer, field, low));
            }
        }
    }

    /// <summary>The memory layout of the convolution weights the layers compute with.</summary>
    public TensorLayout Layout { get; }

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
            using var master = e.Master.detach();
            using var plain = master.contiguous(); // channels-first again (an alias when it already is)
            SetParameter(e.Layer!, e.Field, new Parameter(plain.clone(), e.Master.requires_grad));
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
