using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Training;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Tests;

/// <summary>Small data and models shared by the trainer tests.</summary>
internal static class Fixtures
{
    public static readonly ImageShape Shape = new(1, 8, 8);

    /// <summary>Two classes a tiny net can tell apart: bright top half versus bright bottom half, plus noise.</summary>
    public static ImageDataset Halves(int count, int seed)
    {
        var random = new Random(seed);
        var pixels = new float[count * 64];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = i % 2;
            for (int p = 0; p < 64; p++)
            {
                bool top = p < 32;
                pixels[(i * 64) + p] = (top == (labels[i] == 0) ? 200f : 40f) + (float)(random.NextDouble() * 60);
            }
        }

        return new ImageDataset(pixels, labels, Shape, 2);
    }

    /// <summary>The same two classes as uint8 pixels (0..255 integers), as a decoder would produce them.</summary>
    public static (byte[] Pixels, int[] Labels) HalvesBytes(int count, int seed)
    {
        var random = new Random(seed);
        var pixels = new byte[count * Shape.Size];
        var labels = Enumerable.Range(0, count).Select(i => i % 2).ToArray();
        for (int i = 0; i < pixels.Length; i++)
        {
            bool top = i % Shape.Size < Shape.Size / 2;
            pixels[i] = (byte)((top == (labels[i / Shape.Size] == 0) ? 180 : 30) + random.Next(60));
        }

        return (pixels, labels);
    }

    public static ImageClassifier TinyResNet(int seed)
    {
        manual_seed(seed);
        return (ResNetConfig.ResNet18 with { Width = 0.25 }).Create(new ArchitectureOptions { NumClasses = 2, InputChannels = 1, InputSize = 8, SmallInputStem = true });
    }

    /// <summary>Every parameter and buffer as one float array, in state_dict order.</summary>
    public static float[] State(nn.Module model) =>
        model.state_dict().Values.SelectMany(t => t.to(ScalarType.Float32).data<float>().ToArray()).ToArray();
}
