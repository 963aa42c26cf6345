namespace MLNetCnn.Tricks.Training;

/// <summary>
/// How many epochs a run trains: <see cref="TrainerOptions.Epochs"/>, or under <see cref="TrainerOptions.TimeLimit"/>
/// as many as fit the time left, re-planned after every epoch from the epochs measured so far. The learning-rate
/// schedule spans the planned epochs, so a cosine decay ends at its final rate when the time is up instead of being cut
/// off at a high rate.
/// </summary>
internal sealed class EpochPlan
{
    private readonly TimeSpan? _limit;
    private readonly int _maximum;
    private readonly Func<TimeSpan> _clock;
    private TimeSpan? _firstEpochStart;
    private int _epochsTimed;
    private TimeSpan _lastEpochStart;
    private TimeSpan _slowestEpoch;

    /// <summary>Starts the plan.</summary>
    /// <param name="limit">The time limit, or null for a plan of <paramref name="maximum"/> epochs.</param>
    /// <param name="clock">Time since the start of what the limit counts (the start of <c>Fit</c>).</param>
    /// <param name="maximum">The most epochs the run may train (<see cref="TrainerOptions.Epochs"/>).</param>
    /// <param name="initial">The plan before any epoch was measured: <paramref name="maximum"/>, or a resumed run's last plan.</param>
    public EpochPlan(TimeSpan? limit, Func<TimeSpan> clock, int maximum, int initial)
    {
        _limit = limit;
        _maximum = maximum;
        Epochs = Math.Clamp(initial, 1, maximum);
        _clock = clock;
    }

    /// <summary>The epochs the run is planned to train (the learning-rate schedule's span).</summary>
    public int Epochs { get; private set; }

    /// <summary>Whether a time limit decides the plan.</summary>
    public bool Limited => _limit is not null;

    /// <summary>Time left before the limit (negative once past it), or null without one.</summary>
    public TimeSpan? Remaining => _limit - _clock();

    /// <summary>
    /// Marks the start of an epoch. An epoch's own time runs from here to <see cref="EpochEnded"/> (training and
    /// validation); the checkpoint written after that counts in the mean, which runs from the first epoch's start.
    /// </summary>
    public void EpochStarting()
    {
        _lastEpochStart = _clock();
        _firstEpochStart ??= _lastEpochStart;
    }

    /// <summary>
    /// Re-plans after <paramref name="epoch"/> ended and says whether another epoch follows. Under a time limit the plan
    /// becomes the finished epochs plus as many more as fit the time left at the slower of the mean and the slowest epoch
    /// so far (the first epoch, which also creates the kernels, counts as the slowest only until a second one was timed),
    /// at most <see cref="TrainerOptions.Epochs"/>; it may grow only while the old plan's end is still ahead (an epoch
    /// after the schedule reached its end would start the learning rate again from there).
    /// </summary>
    /// <returns>A line for the log when the plan was first made, changed, or ended the run; otherwise null.</returns>
    public string? EpochEnded(int epoch, out bool more)
    {
        if (_limit is not { } limit)
        {
            more = epoch < Epochs;
            return null;
        }

        var now = _clock();
        _epochsTimed++;
        var last = now - _lastEpochStart;
        // The first epoch also creates the kernels (oneDNN primitives, the first allocations): it stands for the
        // slowest only until a second epoch was measured.
        _slowestEpoch = _epochsTimed == 2 || last > _slowestEpoch ? last : _slowestEpoch;
        double mean = (now - _firstEpochStart!.Value).TotalSeconds / _epochsTimed;
        double perEpoch = Math.Max(mean, _slowestEpoch.TotalSeconds);
        double left = (limit - now).TotalSeconds;
        long fit = left <= 0 ? 0 : (long)Math.Floor(left / Math.Max(perEpoch, 1e-6));
        int planned = (int)Math.Min(_maximum, epoch + fit);
        if (epoch >= Epochs)
        {
            planned = epoch; // the schedule has ended: no epoch after it
        }

        bool first = _epochsTimed == 1;
        bool changed = planned != Epochs;
        Epochs = planned;
        more = epoch < Epochs;
        if (!first && !changed && more)
        {
            return null;
        }

        var c = System.Globalization.CultureInfo.InvariantCulture;
        string plan = more
            ? string.Format(c, "{0} epoch(s) planned, {1} more (the learning-rate schedule spans {0})", Epochs, Epochs - epoch)
            : fit == 0 ? string.Format(c, "no time for another epoch: training ends after epoch {0}", epoch)
            : string.Format(c, "the planned epochs are done: training ends after epoch {0}", epoch);
        string capped = more && Epochs == _maximum && fit > _maximum - epoch ? string.Format(c, ", capped by Epochs {0}", _maximum) : string.Empty;
        return string.Format(c, "time limit {0:F0} s: {1:F0} s used, {2:F1} s an epoch (mean {3:F1} s, slowest {4:F1} s): {5}{6}", limit.TotalSeconds, now.TotalSeconds, perEpoch, mean, _slowestEpoch.TotalSeconds, plan, capped);
    }
}
