namespace MLNetCnn.Architectures.Tests;

/// <summary>
/// On this project's build machines (AMD EPYC virtual CPUs) libtorch's oneDNN AVX, AVX2 and AVX-512 kernels
/// compute wrong convolutions when a channel count is not a multiple of the vector width (12, 20, 36
/// channels at AVX2; 8, 24, 40 at AVX-512). The library therefore defaults oneDNN to SSE4.1
/// (<c>OneDnnIsa</c>, applied by a module initializer); this pins that the default is right for every width.
/// </summary>
[TestClass]
public sealed class OneDnnIsa
{
    [TestMethod]
    public void FloatConvolutionMatchesDoublePrecisionForEveryWidth()
    {
        foreach (int channels in new[] { 1, 4, 12, 16, 20, 24, 32, 36, 40, 48 })
        {
            var g = new TorchSharp.torch.Generator(3);
            using var x = TorchSharp.torch.randn(new long[] { 2, channels, 16, 16 }, generator: g);
            using var w = TorchSharp.torch.randn(new long[] { 64, channels, 3, 3 }, generator: g) * 0.1;
            using var single = TorchSharp.torch.nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
            using var reference = TorchSharp.torch.nn.functional.conv2d(x.to(TorchSharp.torch.ScalarType.Float64), w.to(TorchSharp.torch.ScalarType.Float64), padding: new long[] { 1, 1 });
            double error = (single.to(TorchSharp.torch.ScalarType.Float64) - reference).abs().max().item<double>();
            Assert.IsTrue(error < 1e-4, $"3x3 conv from {channels} channels: float32 differs from float64 by {error}");
        }
    }
}
