namespace MLNetCnn.Estimators;

/// <summary>The time left in a count of work, at the rate so far: the one estimate behind progress reports of reading and scoring.</summary>
internal static class TimeLeft
{
    /// <summary>
    /// The time the <paramref name="total"/> - <paramref name="done"/> items left take at the rate of the first
    /// <paramref name="done"/> in <paramref name="elapsed"/>: zero before the first is done (no rate yet) and when all are,
    /// <see cref="TimeSpan.MaxValue"/> past its range. An estimate at a rate of at least 1e-9 a second overflowed TimeSpan
    /// before the first of 923 or more images, and failed the README's <c>mlnetcnn train --data fashion-mnist-embedded</c>.
    /// </summary>
    public static TimeSpan Estimate(long done, long total, TimeSpan elapsed)
    {
        double ticks = done > 0 && total > done ? (total - done) * (double)elapsed.Ticks / done : 0;
        return ticks >= TimeSpan.MaxValue.Ticks ? TimeSpan.MaxValue : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>Items per second so far (zero before any time has passed).</summary>
    public static double Rate(long done, TimeSpan elapsed) => elapsed > TimeSpan.Zero ? done / elapsed.TotalSeconds : 0;
}
