using System.Globalization;
using System.Text;
using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Architectures.Cost;

/// <summary>
/// The cost model: per-layer output shape, parameters and MACs, read from the same block definitions
/// as the forward pass and the ONNX graph (torchvision's counting rule, eval mode).
/// </summary>
public sealed class ModelCost
{
    private ModelCost(IReadOnlyList<LayerCost> layers, long parameters, IReadOnlyList<long> outputShape)
    {
        Layers = layers;
        Parameters = parameters;
        OutputShape = outputShape;
    }

    /// <summary>One row per leaf layer, in execution order.</summary>
    public IReadOnlyList<LayerCost> Layers { get; }

    /// <summary>All trainable parameters of the model (auxiliary heads included).</summary>
    public long Parameters { get; }

    /// <summary>Multiply-accumulates for one image, in eval mode.</summary>
    public long Macs => Layers.Sum(l => l.Macs);

    /// <summary>Per-example output shape.</summary>
    public IReadOnlyList<long> OutputShape { get; }

    /// <summary>Measures a model at its input shape.</summary>
    /// <exception cref="InputTooSmallException">A layer's kernel or pool window does not fit its input at this input size (the one check that decides whether a configuration can run; training makes it too).</exception>
    public static ModelCost Measure(ImageClassifier model)
    {
        var graph = new GraphBuilder(withWeights: false);
        var s = model.InputShape;
        GraphValue output;
        try
        {
            output = graph.Run(model, new GraphValue("input", new long[] { s.Channels, s.Height, s.Width }));
        }
        catch (InputTooSmallException e)
        {
            throw new InputTooSmallException($"{model.GetType().Name} at input {s}, {e.Layer}");
        }

        long parameters = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        return new ModelCost(graph.Layers, parameters, output.Shape);
    }

    /// <summary>A torchinfo-style table: layer, output shape, params, MACs, then totals.</summary>
    public string ToTable()
    {
        var c = CultureInfo.InvariantCulture;
        int nameWidth = Math.Max(24, Layers.Count == 0 ? 0 : Layers.Max(l => l.Name.Length + l.Kind.Length + 3));
        var sb = new StringBuilder();
        sb.AppendLine(c, $"{"Layer (type)".PadRight(nameWidth)} {"Output shape",-16} {"Params",14} {"MACs",16}");
        sb.AppendLine(new string('=', nameWidth + 49));
        foreach (var l in Layers)
        {
            sb.AppendLine(c, $"{$"{l.Name} ({l.Kind})".PadRight(nameWidth)} {string.Join('x', l.OutputShape),-16} {l.Parameters,14:N0} {l.Macs,16:N0}");
        }

        sb.AppendLine(new string('=', nameWidth + 49));
        sb.AppendLine(c, $"Total params: {Parameters:N0}");
        sb.AppendLine(c, $"Total MACs:   {Macs:N0} ({Macs / 1e9:F3} G)");
        sb.AppendLine(c, $"Output shape: {string.Join('x', OutputShape)}");
        return sb.ToString();
    }
}
