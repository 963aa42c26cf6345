namespace MLNetCnn.Architectures.Layers;

/// <summary>Channel-count arithmetic shared by the width-scaled families.</summary>
public static class Channels
{
    /// <summary>
    /// Rounds <paramref name="value"/> to the nearest multiple of <paramref name="divisor"/>, never below
    /// <paramref name="minValue"/> (default: the divisor) and never more than 10 percent below the value
    /// (torchvision's and TensorFlow's <c>_make_divisible</c>; MobileNet v2, EfficientNet).
    /// </summary>
    public static int MakeDivisible(double value, int divisor = 8, int? minValue = null)
    {
        int min = minValue ?? divisor;
        int rounded = Math.Max(min, (int)(value + (divisor / 2.0)) / divisor * divisor);
        if (rounded < 0.9 * value)
        {
            rounded += divisor;
        }

        return rounded;
    }
}
