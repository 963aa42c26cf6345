using System.Globalization;

namespace MLNetCnn.Tricks.Data;

/// <summary>What a set of images' pixel values look like (<see cref="ImageSources.Statistics"/>).</summary>
/// <param name="Mean">Mean of each channel: the model's input normalization.</param>
/// <param name="Std">Standard deviation of each channel.</param>
/// <param name="Min">The least value of any channel: with <paramref name="Max"/>, the units the images came in (0..255, 0..1, ...).</param>
/// <param name="Max">The greatest value of any channel.</param>
/// <remarks>Equality compares the channels' values, not the arrays' identity (a record's default for array members).</remarks>
public sealed record PixelStatistics(float[] Mean, float[] Std, float Min, float Max)
{
    /// <inheritdoc/>
    public bool Equals(PixelStatistics? other) =>
        other is not null && Mean.AsSpan().SequenceEqual(other.Mean) && Std.AsSpan().SequenceEqual(other.Std) && Min.Equals(other.Min) && Max.Equals(other.Max);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (float value in Mean)
        {
            hash.Add(value);
        }

        foreach (float value in Std)
        {
            hash.Add(value);
        }

        hash.Add(Min);
        hash.Add(Max);
        return hash.ToHashCode();
    }

    /// <summary>The values, as in <c>PixelStatistics { Mean = [0.286], Std = [0.353], Min = 0, Max = 1 }</c>.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture, $"Mean = [{Join(Mean)}], Std = [{Join(Std)}], Min = {Min.ToString(CultureInfo.InvariantCulture)}, Max = {Max.ToString(CultureInfo.InvariantCulture)}");
        return true;
    }

    private static string Join(float[] values) => string.Join(", ", values.Select(v => v.ToString(CultureInfo.InvariantCulture)));
}
