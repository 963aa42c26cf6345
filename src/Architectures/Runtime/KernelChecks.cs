using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Runtime;

/// <summary>What one probe process found at one instruction set.</summary>
/// <param name="Checks">Convolution passes compared against float64.</param>
/// <param name="Failures">The failed ones, worst first (at most a few), in words.</param>
/// <param name="BFloat16Checked">Whether bfloat16 convolutions were checked too.</param>
/// <param name="BFloat16Failures">The failed bfloat16 ones.</param>
/// <param name="BFloat16Slowdown">Time of a bfloat16 convolution step over a float32 one (above 1: slower).</param>
internal sealed record ProbeOutcome(int Checks, IReadOnlyList<string> Failures, bool BFloat16Checked, IReadOnlyList<string> BFloat16Failures, double BFloat16Slowdown);

/// <summary>Which of the probe's checks a probe process runs.</summary>
internal enum KernelCheckSet
{
    /// <summary>The convolutions the library's models run: these decide whether an instruction set is kept.</summary>
    Models,

    /// <summary>
    /// Strided 1x1 convolutions, which the library's models never hand to oneDNN (<see cref="Layers.StridedPointwise"/>
    /// runs them as stride-1 convolutions on the subsampled input): checked in a process of their own, because their
    /// kernels crash on some hosts, and recorded, but they reject no instruction set.
    /// </summary>
    StridedPointwise,
}

/// <summary>
/// The checks of the kernel probe, run inside a probe process at one <c>ONEDNN_MAX_CPU_ISA</c>: convolution
/// forward, input gradient and weight gradient at the channel counts where oneDNN's vectorized kernels were
/// seen to go wrong (1 to 6, 8, 12, 20, 24, 28, 36, 40), 1x1 (as <see cref="Layers.StridedPointwise"/> runs a strided
/// one), depthwise and grouped convolutions, in the contiguous (NCHW) and channels-last layouts, each against the
/// same convolution in float64 (which libtorch runs in its own reference code, not in oneDNN); strided 1x1
/// convolutions as a set of their own (<see cref="KernelCheckSet"/>). bfloat16 is checked the same way where asked.
/// </summary>
internal static class KernelChecks
{
    /// <summary>Largest error, relative to the largest float64 value, that a float32 kernel may show.</summary>
    public const double Float32Tolerance = 2e-3;

    /// <summary>The same for bfloat16 (8 mantissa bits).</summary>
    public const double BFloat16Tolerance = 4e-2;

    private static readonly int[] AwkwardChannels = [1, 2, 3, 4, 5, 6, 8, 12, 20, 24, 28, 36, 40];

    /// <summary>
    /// Runs the checks of <paramref name="set"/> (bfloat16 too when <paramref name="bfloat16"/>) and, for the models' set,
    /// times bfloat16 against float32; <paramref name="failOn"/> "float32" adds a failure (tests drive the fallback with it).
    /// </summary>
    public static ProbeOutcome Run(bool bfloat16, string? failOn, KernelCheckSet set = KernelCheckSet.Models)
    {
        var failures = new List<(double Error, string What)>();
        if (failOn == "float32")
        {
            failures.Add((double.PositiveInfinity, "a float32 failure injected by the caller"));
        }

        int checks = 0;
        foreach (var (what, error) in Convolutions(ScalarType.Float32, set))
        {
            checks++;
            if (!(error <= Float32Tolerance))
            {
                failures.Add((double.IsNaN(error) ? double.PositiveInfinity : error, $"{what}: float32 error {Format(error)}"));
            }
        }

        var bf16Failures = new List<(double Error, string What)>();
        if (bfloat16)
        {
            foreach (var (what, error) in Convolutions(ScalarType.BFloat16, set))
            {
                checks++;
                if (!(error <= BFloat16Tolerance))
                {
                    bf16Failures.Add((double.IsNaN(error) ? double.PositiveInfinity : error, $"{what}: bfloat16 error {Format(error)}"));
                }
            }
        }

        return new ProbeOutcome(checks, Worst(failures), bfloat16, Worst(bf16Failures), set == KernelCheckSet.Models ? BFloat16Slowdown() : 0);
    }

    /// <summary>Seconds of a bfloat16 3x3 convolution step (forward and both gradients) over a float32 one, best of three each.</summary>
    private static double BFloat16Slowdown()
    {
        double Time(ScalarType type)
        {
            using var scope = NewDisposeScope();
            var g = new Generator(11);
            var x = randn(new long[] { 16, 32, 16, 16 }, generator: g).to(type).requires_grad_();
            var w = randn(new long[] { 32, 32, 3, 3 }, generator: g).to(type).requires_grad_();
            double best = double.MaxValue;
            for (int i = 0; i < 4; i++)
            {
                using var step = NewDisposeScope();
                var clock = Stopwatch.StartNew();
                nn.functional.conv2d(x, w, padding: new long[] { 1, 1 }).sum().backward();
                best = i == 0 ? best : Math.Min(best, clock.Elapsed.TotalSeconds); // the first run creates the primitives
            }

            return best;
        }

        return Time(ScalarType.BFloat16) / Time(ScalarType.Float32);
    }

    /// <summary>Every checked convolution of <paramref name="set"/> with its largest relative error over forward, input gradient and weight gradient.</summary>
    private static IEnumerable<(string What, double Error)> Convolutions(ScalarType type, KernelCheckSet set)
    {
        foreach (bool channelsLast in new[] { false, true })
        {
            string layout = channelsLast ? "channels-last" : "NCHW";
            var checks = set == KernelCheckSet.Models ? ModelConvolutions(type, channelsLast, layout) : StridedPointwiseConvolutions(type, channelsLast, layout);
            foreach (var check in checks)
            {
                yield return check;
            }
        }
    }

    private static IEnumerable<(string What, double Error)> ModelConvolutions(ScalarType type, bool channelsLast, string layout)
    {
        foreach (int c in AwkwardChannels)
        {
            int output = c < 8 ? 12 : c;
            yield return ($"3x3 conv {c}->{output} channels, {layout}", Check(type, channelsLast, batch: 3, c, output, size: 10, kernel: 3, stride: 1, groups: 1));
        }

        // 1x1 convolutions as the models run them, a strided shortcut's included (StridedPointwise: stride 1 on the subsampled input).
        foreach (int c in new[] { 8, 24, 40, 64 })
        {
            yield return ($"1x1 conv {c}->{2 * c} channels, {layout}", Check(type, channelsLast, batch: 3, c, 2 * c, size: 6, kernel: 1, stride: 1, groups: 1));
        }

        foreach (int c in new[] { 8, 24, 40, 96 })
        {
            foreach (int stride in new[] { 1, 2 })
            {
                yield return ($"depthwise 3x3 conv, {c} channels, stride {stride}, {layout}", Check(type, channelsLast, batch: 3, c, c, size: 12, kernel: 3, stride, groups: c));
            }
        }

        foreach (var (c, groups) in new[] { (12, 3), (24, 2), (24, 4), (40, 4) })
        {
            foreach (int kernel in new[] { 1, 3 })
            {
                yield return ($"grouped {kernel}x{kernel} conv, {c} channels in {groups} groups, {layout}", Check(type, channelsLast, batch: 3, c, c, size: 10, kernel, stride: 1, groups));
            }
        }
    }

    private static IEnumerable<(string What, double Error)> StridedPointwiseConvolutions(ScalarType type, bool channelsLast, string layout)
    {
        foreach (int c in new[] { 8, 24, 40, 64 })
        {
            yield return ($"strided 1x1 conv {c}->{2 * c} channels, {layout}", Check(type, channelsLast, batch: 3, c, 2 * c, size: 12, kernel: 1, stride: 2, groups: 1));
        }

        // ResNet-50's last shortcut: one of the shapes whose backward-data set-up divides by zero (SIGFPE)
        // where oneDNN sees no cache sizes (docs/kernels.md).
        yield return ($"strided 1x1 conv 1024->2048 channels, {layout}", Check(type, channelsLast, batch: 1, 1024, 2048, size: 8, kernel: 1, stride: 2, groups: 1));
    }

    private static double Check(ScalarType type, bool channelsLast, int batch, int inputs, int outputs, int size, int kernel, int stride, int groups)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)((inputs * 1000) + (outputs * 10) + kernel + (stride * 7) + (groups * 13)));
        long[] padding = [kernel / 2, kernel / 2];
        long[] strides = [stride, stride];
        // Values that the low-precision type holds exactly, so the float64 reference sees the same inputs.
        var x64 = randn(new long[] { batch, inputs, size, size }, generator: g).to(type).to(ScalarType.Float64);
        using var weightScale = 0.2.ToScalar(); // Scalars are held across the native call: see Scalars
        var w64 = randn(new long[] { outputs, inputs / groups, kernel, kernel }, generator: g).mul_(weightScale).to(type).to(ScalarType.Float64);
        long outputSize = ((size + (2 * padding[0]) - kernel) / stride) + 1;
        var gy64 = randn(new long[] { batch, outputs, outputSize, outputSize }, generator: g).to(type).to(ScalarType.Float64);

        var (y, gx, gw) = Pass(x64.to(type), w64.to(type), gy64.to(type), channelsLast, strides, padding, groups);
        var (ry, rgx, rgw) = Pass(x64, w64, gy64, channelsLast: false, strides, padding, groups);
        return new[] { RelativeError(y, ry), RelativeError(gx, rgx), RelativeError(gw, rgw) }.Max(e => double.IsNaN(e) ? double.PositiveInfinity : e);
    }

    private static (Tensor Y, Tensor GradInput, Tensor GradWeight) Pass(Tensor x, Tensor w, Tensor gy, bool channelsLast, long[] stride, long[] padding, int groups)
    {
        if (channelsLast)
        {
            x = MemoryLayout.ToChannelsLast(x);
            w = MemoryLayout.ToChannelsLast(w);
            gy = MemoryLayout.ToChannelsLast(gy);
        }

        x = x.detach().requires_grad_();
        w = w.detach().requires_grad_();
        var y = nn.functional.conv2d(x, w, strides: stride, padding: padding, groups: groups);
        y.backward(new[] { gy });
        return (y.detach(), x.grad!, w.grad!);
    }

    private static double RelativeError(Tensor actual, Tensor reference)
    {
        using var scope = NewDisposeScope();
        var a = actual.to(ScalarType.Float64);
        double scale = Math.Max(reference.abs().max().item<double>(), 1e-6);
        return (a - reference).abs().max().item<double>() / scale;
    }

    private static List<string> Worst(List<(double Error, string What)> failures) =>
        failures.OrderByDescending(f => f.Error).Take(4).Select(f => f.What).ToList();

    private static string Format(double error) => double.IsNaN(error) ? "NaN" : error.ToString("G3", CultureInfo.InvariantCulture);
}
