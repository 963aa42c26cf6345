using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Regularization;

/// <summary>
/// Mixup (Zhang et al.; Bag of Tricks section 5.4): each batch is blended with a shuffled copy of
/// itself, <c>x = lambda * x_i + (1 - lambda) * x_j</c>, and so are its soft targets, with one
/// lambda per batch drawn from Beta(alpha, alpha).
/// </summary>
public sealed record MixupOptions
{
    /// <summary>Beta distribution parameter (Bag of Tricks: 0.2). Must be positive.</summary>
    public double Alpha { get; init; } = 0.2;

    /// <summary>Train the last this-many epochs without mixup (on clean images).</summary>
    public int OffForLastEpochs { get; init; }

    /// <summary>Throws when a value is out of range.</summary>
    public MixupOptions Validate()
    {
        if (!(Alpha > 0) || !double.IsFinite(Alpha))
        {
            throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "Mixup alpha must be positive and finite.");
        }

        if (OffForLastEpochs < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(OffForLastEpochs), OffForLastEpochs, "OffForLastEpochs must not be negative.");
        }

        return this;
    }
}

/// <summary>The mixup operations; random draws come from the caller's seeded <see cref="Random"/>.</summary>
public static class Mixup
{
    /// <summary>Draws lambda from Beta(alpha, alpha) as G1 / (G1 + G2) with G ~ Gamma(alpha, 1).</summary>
    public static double SampleLambda(double alpha, Random random)
    {
        double a = SampleGamma(alpha, random);
        double b = SampleGamma(alpha, random);
        return a + b > 0 ? a / (a + b) : 0.5;
    }

    /// <summary>A random permutation of 0..n-1 as an int64 tensor.</summary>
    public static Tensor Permutation(int n, Random random)
    {
        var order = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        random.Shuffle(order);
        return tensor(order);
    }

    /// <summary>Blends images and soft targets with their rows reordered by <paramref name="permutation"/>.</summary>
    public static (Tensor Images, Tensor Targets) Mix(Tensor images, Tensor targets, double lambda, Tensor permutation)
    {
        if (lambda is < 0 or > 1 || double.IsNaN(lambda))
        {
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "Mixup lambda must be in [0, 1].");
        }

        using var scope = NewDisposeScope();
        var p = permutation.to(images.device);
        using var keep = lambda.ToScalar(); // Scalars are held across the native calls: see Scalars
        using var blend = (1 - lambda).ToScalar();
        var mixedImages = images.mul(keep).add(images.index_select(0, p).mul(blend), Scalars.One);
        var mixedTargets = targets.mul(keep).add(targets.index_select(0, p.to(targets.device)).mul(blend), Scalars.One);
        return (mixedImages.MoveToOuterDisposeScope(), mixedTargets.MoveToOuterDisposeScope());
    }

    /// <summary>Marsaglia and Tsang's method; shapes below 1 use the boost Gamma(a) = Gamma(a + 1) * U^(1/a).</summary>
    private static double SampleGamma(double shape, Random random)
    {
        if (shape < 1)
        {
            double u = 1 - random.NextDouble();
            return SampleGamma(shape + 1, random) * Math.Pow(u, 1 / shape);
        }

        double d = shape - (1.0 / 3);
        double c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x = Normal(random);
            double v = 1 + (c * x);
            if (v <= 0)
            {
                continue;
            }

            v = v * v * v;
            double u = 1 - random.NextDouble();
            if (Math.Log(u) < (0.5 * x * x) + d - (d * v) + (d * Math.Log(v)))
            {
                return d * v;
            }
        }
    }

    private static double Normal(Random random)
    {
        double u1 = 1 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
