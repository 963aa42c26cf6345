namespace MLNetCnn.Estimators;

/// <summary>
/// Thrown by <see cref="ImageClassificationTrainer.Fit"/> when the rows of the data cannot be trained on, although
/// the schema fits: no rows, a single class, a missing or out-of-range label key, a row of the wrong length, a
/// non-finite pixel or soft target. The message names the data (training or validation), the column and the row.
/// An application can catch it to report bad data in one line without catching every
/// <see cref="InvalidOperationException"/>, which it derives from (as ML.NET's trainers throw for bad data).
/// </summary>
public sealed class TrainingDataException : InvalidOperationException
{
    /// <summary>Creates the exception with the message that says what was wrong, and where.</summary>
    public TrainingDataException(string message)
        : base(message)
    {
    }
}
