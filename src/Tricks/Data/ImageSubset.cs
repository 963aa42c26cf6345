using MLNetCnn.Architectures.Models;

namespace MLNetCnn.Tricks.Data;

/// <summary>
/// Some rows of another source, read through it (nothing is copied but the teacher logits of those rows).
/// Disposing a subset leaves the source alone: it stays its owner's to dispose.
/// </summary>
public sealed class ImageSubset : IImageSource
{
    private readonly IImageSource _source;
    private readonly int[] _labels;

    /// <summary>The rows of <paramref name="source"/> at <paramref name="rows"/>, in that order.</summary>
    public ImageSubset(IImageSource source, IReadOnlyList<int> rows)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(rows);
        int bad = rows.ToList().FindIndex(r => (uint)r >= (uint)source.Count);
        if (bad >= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows[bad], $"Row {rows[bad]} is not a row of the source (0..{source.Count - 1}).");
        }

        _source = source;
        Rows = rows.ToArray();
        _labels = Rows.Select(r => source.Labels[r]).ToArray();
        if (source.TeacherLogits is { } logits)
        {
            int k = source.NumClasses;
            TeacherLogits = new float[(long)Rows.Count * k];
            for (int i = 0; i < Rows.Count; i++)
            {
                Array.Copy(logits, (long)Rows[i] * k, TeacherLogits, (long)i * k, k);
            }
        }
    }

    /// <summary>The source's row behind each row of the subset.</summary>
    public IReadOnlyList<int> Rows { get; }

    /// <inheritdoc/>
    public int Count => Rows.Count;

    /// <inheritdoc/>
    public ImageShape Shape => _source.Shape;

    /// <inheritdoc/>
    public int NumClasses => _source.NumClasses;

    /// <inheritdoc/>
    public IReadOnlyList<int> Labels => _labels;

    /// <inheritdoc/>
    public float[]? TeacherLogits { get; }

    /// <inheritdoc/>
    public ImagePixelType PixelType => _source.PixelType;

    /// <inheritdoc/>
    public int ReadParallelism => _source.ReadParallelism;

    /// <inheritdoc/>
    public void ReadImage(int row, Span<byte> destination) => _source.ReadImage(Rows[row], destination);

    /// <summary>Does nothing: the source is not the subset's.</summary>
    public void Dispose()
    {
    }
}

/// <summary>The validation split every trainer uses.</summary>
public static class StratifiedSplits
{
    /// <summary>
    /// A split's fraction as the share of each class it asks for, to as many digits as it has ("20 % of each class",
    /// "12.5 %", "1E-318 %"): a whole percent printed 1e-320 as "0 %" while the split held out one image of each class.
    /// </summary>
    public static string Describe(double fraction)
    {
        double percent = fraction * 100;
        return percent.ToString(percent >= 0.1 ? "0.#" : "G3", System.Globalization.CultureInfo.InvariantCulture) + " % of each class";
    }

    /// <summary>
    /// Splits off a validation part per class: of each class's n images, round(<paramref name="fraction"/> x n)
    /// (at least one where the class has two or more) chosen at random by <paramref name="seed"/>, so every class
    /// with two or more images appears on both sides in the data's own proportions (within one image). Both
    /// parts keep the source's row order; teacher logits travel with their rows.
    /// </summary>
    public static (ImageSubset Train, ImageSubset Validation) StratifiedSplit(this IImageSource source, double fraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!(fraction > 0 && fraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The validation fraction must be in (0, 1).");
        }

        var random = new Random(seed);
        var heldOut = new bool[source.Count];
        foreach (var rows in Enumerable.Range(0, source.Count).GroupBy(i => source.Labels[i]).OrderBy(g => g.Key))
        {
            var indices = rows.ToArray();
            random.Shuffle(indices);
            int take = indices.Length < 2 ? 0 : Math.Clamp((int)Math.Round(fraction * indices.Length, MidpointRounding.AwayFromZero), 1, indices.Length - 1);
            foreach (int i in indices.Take(take))
            {
                heldOut[i] = true;
            }
        }

        var all = Enumerable.Range(0, source.Count);
        return (new ImageSubset(source, all.Where(i => !heldOut[i]).ToArray()), new ImageSubset(source, all.Where(i => heldOut[i]).ToArray()));
    }
}
