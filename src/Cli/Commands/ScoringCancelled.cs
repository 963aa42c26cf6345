using System.Globalization;
using MLNetCnn.Cli.Output;

namespace MLNetCnn.Cli.Commands;

/// <summary>
/// Ctrl+C while <c>predict</c>, <c>evaluate</c> or <c>train --test-data</c> scores files one at a time: the loop stops
/// before the next file. Before, the tool printed "stopping after the current step" and went on scoring every file (an
/// outside sweep's 300 photos: 126 s more, then exit code 0 and the figures as if nothing had been asked).
/// </summary>
internal static class ScoringCancelled
{
    /// <summary>
    /// Throws an <see cref="OperationCanceledException"/> saying how many of the <paramref name="total"/> files were scored
    /// and how many were skipped as unreadable once <paramref name="cancellation"/> is cancelled, after erasing
    /// <paramref name="progress"/>'s bar.
    /// </summary>
    public static void ThrowIf(CancellationToken cancellation, int scored, int skipped, int total, ProgressDisplay? progress = null)
    {
        if (!cancellation.IsCancellationRequested)
        {
            return;
        }

        progress?.Clear();
        // Skipped files are not counted as scored: the count once said "after 5 of 12 images" when 4 of the 5 had been skipped.
        string done = skipped == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{scored:N0} of {total:N0} images")
            : string.Create(CultureInfo.InvariantCulture, $"{scored:N0} of {total:N0} images were scored and {skipped:N0} skipped");
        throw new OperationCanceledException($"Scoring was cancelled after {done}.", cancellation);
    }
}
