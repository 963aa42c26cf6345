using System.Text.Json;
using MLNetCnn.Serving;
using MLNetCnn.Tricks.Data;

namespace MLNetCnn.Estimators.Data;

/// <summary>
/// The units of a pixel-vector column, recorded in the model (<see cref="WeightsMetadata.PixelRange"/>) so that serving it
/// behind an image decoder (<c>CnnServing().WithImageBytesInput</c>) makes pixels in the same units.
/// </summary>
internal static class PixelRange
{
    /// <summary>The least and greatest training value of a pixel-vector column; null for image columns, which the conversion makes 0..255.</summary>
    public static (float Min, float Max)? Of(ImageColumnPlan plan, Func<PixelStatistics> statistics) =>
        plan.Kind == ImageColumnKind.Pixels ? (statistics().Min, statistics().Max) : null;

    /// <summary>Adds <paramref name="range"/>, when known, to a model's metadata.</summary>
    public static void Record(IDictionary<string, string> metadata, (float Min, float Max)? range)
    {
        if (range is var (min, max))
        {
            metadata[WeightsMetadata.PixelRange] = JsonSerializer.Serialize(new[] { min, max });
        }
    }
}
