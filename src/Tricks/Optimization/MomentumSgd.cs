using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Optimization;

/// <summary>A set of parameters that share a weight decay.</summary>
/// <param name="Parameters">The parameters, updated in place.</param>
/// <param name="WeightDecay">L2 penalty added to their gradients (0 for none).</param>
public sealed record SgdParameterGroup(IReadOnlyList<Parameter> Parameters, double WeightDecay);

/// <summary>
/// Stochastic gradient descent with momentum, PyTorch's update rule with dampening 0:
/// <c>g = grad + wd * p; b = mu * b + g; p -= lr * (nesterov ? g + mu * b : b)</c>, with one weight
/// decay per <see cref="SgdParameterGroup"/> and one learning rate, momentum and Nesterov flag for all.
/// </summary>
/// <remarks>
/// The library's own optimizer rather than TorchSharp's <c>optim.SGD</c>, whose update passes
/// temporary Scalars to libtorch (see <see cref="Scalars"/>): here every Scalar is held until the
/// native call has returned. One learning rate for every group also rules out, by construction,
/// the group that silently keeps a different rate.
/// </remarks>
public sealed class MomentumSgd : IDisposable
{
    private readonly Tensor?[][] _momentumBuffers;

    /// <summary>Creates the optimizer.</summary>
    public MomentumSgd(IEnumerable<SgdParameterGroup> groups, double learningRate, double momentum, bool nesterov)
    {
        ArgumentNullException.ThrowIfNull(groups);
        Groups = groups.ToList();
        if (momentum is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Momentum must be in [0, 1).");
        }

        if (nesterov && momentum == 0)
        {
            throw new ArgumentException("Nesterov momentum needs a momentum above 0.", nameof(nesterov));
        }

        LearningRate = learningRate;
        Momentum = momentum;
        Nesterov = nesterov;
        _momentumBuffers = Groups.Select(g => new Tensor?[g.Parameters.Count]).ToArray();
    }

    /// <summary>The parameter groups, in the order given.</summary>
    public IReadOnlyList<SgdParameterGroup> Groups { get; }

    /// <summary>Learning rate of the next <see cref="Step"/> (a schedule sets it before each step).</summary>
    public double LearningRate { get; set; }

    /// <summary>Momentum factor.</summary>
    public double Momentum { get; }

    /// <summary>Whether the update uses Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <summary>
    /// Parameters to leave untouched by <see cref="Step"/> (no update, no weight decay, no momentum
    /// change), compared by reference; null for none.
    /// </summary>
    public IReadOnlySet<Parameter>? Frozen { get; set; }

    /// <summary>Updates every parameter that has a gradient and is not <see cref="Frozen"/>.</summary>
    public void Step()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var descent = (-LearningRate).ToScalar();
        using var momentum = Momentum.ToScalar();
        for (int g = 0; g < Groups.Count; g++)
        {
            using var decay = Groups[g].WeightDecay.ToScalar();
            for (int i = 0; i < Groups[g].Parameters.Count; i++)
            {
                var parameter = Groups[g].Parameters[i];
                if (Frozen?.Contains(parameter) == true)
                {
                    continue;
                }

                var gradient = parameter.grad;
                if (gradient is null)
                {
                    continue;
                }

                var direction = Groups[g].WeightDecay != 0 ? gradient.add(parameter, decay) : gradient;
                if (Momentum != 0)
                {
                    var buffer = _momentumBuffers[g][i];
                    if (buffer is null)
                    {
                        buffer = direction.detach().clone().DetachFromDisposeScope();
                        _momentumBuffers[g][i] = buffer;
                    }
                    else
                    {
                        buffer.mul_(momentum).add_(direction, Scalars.One);
                    }

                    direction = Nesterov ? direction.add(buffer, momentum) : buffer;
                }

                parameter.add_(direction, descent);
            }
        }
    }

    /// <summary>Writes the momentum buffers (for a checkpoint).</summary>
    public void Save(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(_momentumBuffers.Length);
        foreach (var group in _momentumBuffers)
        {
            writer.Write(group.Length);
            foreach (var buffer in group)
            {
                writer.Write(buffer is not null);
                if (buffer is not null)
                {
                    Training.TensorRecord.Write(writer, buffer);
                }
            }
        }
    }

    /// <summary>Reads momentum buffers written by <see cref="Save"/> for the same parameter groups.</summary>
    /// <exception cref="InvalidDataException">The saved groups do not match this optimizer's.</exception>
    public void Load(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int groups = reader.ReadInt32();
        if (groups != _momentumBuffers.Length)
        {
            throw new InvalidDataException($"The saved optimizer state has {groups} parameter groups; this optimizer has {_momentumBuffers.Length}.");
        }

        for (int g = 0; g < groups; g++)
        {
            int count = reader.ReadInt32();
            if (count != _momentumBuffers[g].Length)
            {
                throw new InvalidDataException($"Parameter group {g} of the saved optimizer state has {count} parameters; this optimizer's has {_momentumBuffers[g].Length}.");
            }

            for (int i = 0; i < count; i++)
            {
                _momentumBuffers[g][i]?.Dispose();
                _momentumBuffers[g][i] = null;
                if (reader.ReadBoolean())
                {
                    var buffer = zeros_like(Groups[g].Parameters[i]).DetachFromDisposeScope();
                    _momentumBuffers[g][i] = buffer;
                    Training.TensorRecord.ReadInto(reader, buffer, $"The saved momentum of parameter {i} in group {g}");
                }
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var buffer in _momentumBuffers.SelectMany(b => b))
        {
            buffer?.Dispose();
        }

        Array.ForEach(_momentumBuffers, b => Array.Clear(b));
    }
}
