namespace MLNetCnn.Estimators;

/// <summary>Which images a <see cref="DataReadProgress"/> is about.</summary>
public enum ImageSetKind
{
    /// <summary>The data given to <c>Fit</c>.</summary>
    Training,

    /// <summary><see cref="ImageClassificationTrainer.Options.ValidationSet"/>.</summary>
    Validation,
}

/// <summary>
/// Where reading the images stands before training starts: images decoded into memory, or written to the temporary
/// file that every epoch then reads (<see cref="ImageClassificationTrainer.Options.ReadProgressCallback"/>).
/// </summary>
/// <param name="Set">The images being read.</param>
/// <param name="ImagesRead">Images read so far.</param>
/// <param name="Images">Images in the set.</param>
/// <param name="ImagesPerSecond">Images read per second so far.</param>
/// <param name="Remaining">Estimated time to the end of the read.</param>
public sealed record DataReadProgress(ImageSetKind Set, int ImagesRead, int Images, double ImagesPerSecond, TimeSpan Remaining)
{
    /// <summary>The progress of a read <paramref name="elapsed"/> into it, the time left estimated at the rate so far (<see cref="TimeLeft.Estimate"/>).</summary>
    internal static DataReadProgress At(ImageSetKind set, int imagesRead, int images, TimeSpan elapsed) =>
        new(set, imagesRead, images, TimeLeft.Rate(imagesRead, elapsed), TimeLeft.Estimate(imagesRead, images, elapsed));
}
