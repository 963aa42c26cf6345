namespace MLNetCnn.Tricks.Data;

/// <summary>What a set of images' pixel values look like (<see cref="ImageSources.Statistics"/>).</summary>
/// <param name="Mean">Mean of each channel: the model's input normalization.</param>
/// <param name="Std">Standard deviation of each channel.</param>
/// <param name="Min">The least value of any channel: with <paramref name="Max"/>, the units the images came in (0..255, 0..1, ...).</param>
/// <param name="Max">The greatest value of any channel.</param>
public sealed record PixelStatistics(float[] Mean, float[] Std, float Min, float Max);
