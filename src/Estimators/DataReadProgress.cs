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
    /// <summary>
    /// The progress of a read <paramref name="elapsed"/> into it, the time left estimated at the rate so far (zero before
    /// the first image is read, when there is no rate yet). Found on the README's CLI path: the first report of a read came
    /// with no image read, and its estimate, the images left at a rate of 1e-9 a second, overflowed <see cref="TimeSpan"/>
    /// past 922 images, so <c>mlnetcnn train --data fashion-mnist-embedded</c> (6,000) failed before its first epoch.
    /// </summary>
    internal static DataReadProgress At(ImageSetKind set, int imagesRead, int images, TimeSpan elapsed)
    {
        double seconds = elapsed.TotalSeconds;
        double perSecond = seconds > 0 ? imagesRead / seconds : 0;
        double ticks = imagesRead > 0 && images > imagesRead ? (images - imagesRead) * (double)elapsed.Ticks / imagesRead : 0;
        var remaining = ticks >= TimeSpan.MaxValue.Ticks ? TimeSpan.MaxValue : TimeSpan.FromTicks((long)ticks);
        return new DataReadProgress(set, imagesRead, images, perSecond, remaining);
    }
}
