using Microsoft.ML.OnnxRuntime;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

[assembly: Parallelize(Workers = 1, Scope = ExecutionScope.ClassLevel)]

namespace MLNetCnn.Architectures.Tests;

internal static class TestSupport
{
    /// <summary>
    /// Random BN statistics and affine parameters, so export must carry all four correctly. Gamma stays
    /// below 1 so that deep residual stacks keep logits of order 1 (float32 round-off then stays far below 1e-4).
    /// </summary>
    public static void RandomizeBatchNorm(nn.Module model, int seed)
    {
        using var noGrad = no_grad();
        var g = new Generator((ulong)seed);
        foreach (var (_, m) in model.named_modules())
        {
            if (m is TorchSharp.Modules.BatchNorm bn)
            {
                bn.running_mean!.copy_(randn(bn.running_mean.shape, generator: g) * 0.1);
                bn.running_var!.copy_(rand(bn.running_var.shape, generator: g) + 0.5);
                bn.weight!.copy_((rand(bn.weight.shape, generator: g) * 0.4) + 0.2);
                bn.bias!.copy_(randn(bn.bias.shape, generator: g) * 0.1);
            }
        }
    }

    /// <summary>Runs the model in TorchSharp eval mode.</summary>
    public static float[] TorchEval(ImageClassifier model, float[] input, int batch)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var s = model.InputShape;
        var x = tensor(input, new long[] { batch, s.Channels, s.Height, s.Width });
        return model.forward(x).contiguous().data<float>().ToArray();
    }

    /// <summary>Runs exported ONNX bytes in ONNX Runtime (CPU) on a flat [N, C*H*W] input.</summary>
    public static float[] OnnxRun(byte[] onnx, float[] input, int batch, int featureSize, string inputName = "Features", string outputName = "Score")
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(onnx, options);
        using var value = OrtValue.CreateTensorValueFromMemory(input, new long[] { batch, featureSize });
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, new[] { inputName }, new[] { value }, new[] { outputName });
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>
    /// Width multiplier for the registry-wide quick checks: models over 40 M parameters (VGG, the largest
    /// ResNets and EfficientNets) run at a quarter of their width, the same graph with fewer channels,
    /// because their cost is in the weights, not the input size. Each family's full-width model is
    /// still checked at its native resolution.
    /// </summary>
    public static double QuickWidth(string name) => ModelRegistry.Get(name).Reference is { Parameters: > 40_000_000 } ? 0.25 : 1.0;

    /// <summary>The row of <paramref name="definition"/> at <paramref name="factor"/> times its own width.</summary>
    public static ArchitectureConfig Scaled(ModelDefinition definition, double factor) => definition.Config with { Width = definition.Config.Width * factor };

    /// <summary>
    /// Width for the train-mode test: a quarter (the same modules and parameter names with fewer channels).
    /// On this machine's virtual CPU (no cache sizes reported) libtorch's backward through full-width
    /// ResNet bottlenecks dies with SIGFPE, which takes the whole test run down. Inception v3's literal
    /// modules have no width multiplier and run at full width.
    /// </summary>
    public static double TrainWidth(string name) => ModelRegistry.Get(name).Family == "InceptionV3" ? 1.0 : 0.25;

    /// <summary>Parameters of the auxiliary heads (training only, so not in the eval graph).</summary>
    public static long AuxiliaryParameters(ImageClassifier model)
    {
        var heads = model is IAuxiliaryHeads aux ? aux.AuxiliaryHeadNames : Array.Empty<string>();
        return model.named_parameters().Where(p => heads.Any(h => p.name.StartsWith(h + ".", StringComparison.Ordinal))).Sum(p => p.parameter.numel());
    }

    public static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.AreEqual(a.Length, b.Length, "output lengths differ");
        float max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }

        return max;
    }

    public static float[] RandomInput(int count, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((r.NextDouble() * 2) - 1)).ToArray();
    }
}
