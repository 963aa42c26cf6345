using System.Diagnostics;
using System.Globalization;
using MLNetCnn.Estimators;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Cli.Output;

/// <summary>
/// Progress of long work. On a terminal one line is redrawn in place with <c>\r</c> (a bar, counts,
/// loss, speed, time left); when the output is redirected a plain line is written at most every few
/// seconds, so logs stay readable.
/// </summary>
internal sealed class ProgressDisplay
{
    private const int BarWidth = 24;
    private readonly TextWriter _output;
    private readonly bool _interactive;
    private readonly TimeSpan _interval;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _lastDrawn;
    private int _drawnLength;

    /// <param name="output">Where progress goes.</param>
    /// <param name="interactive">Redraw one line in place (a terminal) rather than write plain lines.</param>
    /// <param name="plainInterval">Least time between plain lines.</param>
    public ProgressDisplay(TextWriter output, bool interactive, TimeSpan plainInterval)
    {
        _output = output;
        _interactive = interactive;
        _interval = interactive ? TimeSpan.FromMilliseconds(100) : plainInterval;
    }

    /// <summary>Least time between plain lines when the output is redirected (tests shorten it).</summary>
    internal static TimeSpan PlainInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A display on <paramref name="output"/>: redrawn in place on a terminal, plain lines every <see cref="PlainInterval"/> otherwise.</summary>
    public static ProgressDisplay For(TextWriter output) => new(output, IsTerminal(output), PlainInterval);

    /// <summary>True when <paramref name="output"/> is the console's own output (or error) and that is a terminal.</summary>
    public static bool IsTerminal(TextWriter output) =>
        (ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected) || (ReferenceEquals(output, Console.Error) && !Console.IsErrorRedirected);

    public void Decoding(int done, int total)
    {
        string counts = string.Create(CultureInfo.InvariantCulture, $"{done:N0}/{total:N0}");
        Update(done >= total, $"checking images {Bar(done, total)} {counts}", $"checking images: {counts}");
    }

    /// <summary>Scoring labelled images one by one (evaluate, and train's test folder): counts, speed and time left.</summary>
    /// <param name="done">Images scored so far.</param>
    /// <param name="total">Images to score.</param>
    /// <param name="elapsed">Time since scoring began.</param>
    /// <param name="what">What is being scored, for the line.</param>
    public void Scoring(int done, int total, TimeSpan elapsed, string what = "images")
    {
        Counted($"scoring {what}", done, total, TimeLeft.Rate(done, elapsed), TimeLeft.Estimate(done, total, elapsed));
    }

    /// <summary>Training's read of a set of images before its first epoch: counts, speed and time left.</summary>
    /// <param name="p">The read's progress.</param>
    public void Reading(DataReadProgress p) =>
        Counted($"reading {(p.Set == ImageSetKind.Training ? "training" : "validation")} images", p.ImagesRead, p.Images, p.ImagesPerSecond, p.Remaining);

    /// <param name="p">The step's progress.</param>
    /// <param name="validationFollows">A validation pass runs after each epoch: the bar's last state says so, rather than sit at 100 % while it runs.</param>
    public void Training(TrainingProgress p, bool validationFollows)
    {
        var c = CultureInfo.InvariantCulture;
        TimeSpan run = p.EpochRemaining + TimeSpan.FromSeconds((p.Epochs - p.Epoch) * p.ImagesInEpoch / Math.Max(1e-9, p.ImagesPerSecond));
        if (p.TimeLimitRemaining is { } left && left < run)
        {
            run = left > p.EpochRemaining ? left : p.EpochRemaining; // --time-limit: the run ends about then (the plan is made after the first epoch)
        }

        string eta = p.Epoch < p.Epochs ? $"ETA {Duration(p.EpochRemaining)} (run ~{Duration(run)})" : $"ETA {Duration(p.EpochRemaining)}";
        bool epochDone = p.ImagesSeen >= p.ImagesInEpoch;
        string status = string.Create(c, $"{p.ImagesSeen:N0}/{p.ImagesInEpoch:N0} images, loss {p.TrainLoss:F4}, {p.ImagesPerSecond:F0} img/s") + (epochDone && validationFollows ? "; validating..." : ", " + eta);
        string epoch = string.Create(c, $"epoch {p.Epoch}/{p.Epochs}");
        Update(epochDone, $"{epoch} {Bar(p.ImagesSeen, p.ImagesInEpoch)} {status}", $"{epoch}: {status}");
    }

    /// <summary>Ends any line being redrawn and writes <paramref name="text"/> on its own line.</summary>
    public void Line(string text)
    {
        Clear();
        _output.WriteLine(text);
    }

    /// <summary>Erases the line being redrawn, if any, so that other text can be written where it was.</summary>
    public void Clear()
    {
        if (_drawnLength > 0)
        {
            _output.Write('\r' + new string(' ', _drawnLength) + '\r');
            _output.Flush();
            _drawnLength = 0;
        }

        _lastDrawn = null;
    }

    public static string Duration(TimeSpan time)
    {
        if (time.TotalSeconds is < 0 or > 1e7 || double.IsNaN(time.TotalSeconds))
        {
            return "?";
        }

        return time.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)time.TotalHours}:{time.Minutes:00}:{time.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{time.Minutes}:{time.Seconds:00}");
    }

    /// <summary>
    /// Counts, speed and time left. The time left is "?" until 2 % of the work is done: the first images' rate holds the
    /// work's start-up (a cursor's first row, a sample's shuffle), and 10,000 images read at 1,400 a second were first
    /// shown as "1/10,000, 1 img/s, ETA 5:31:06" for a read that was over within seconds.
    /// </summary>
    private void Counted(string what, int done, int total, double perSecond, TimeSpan remaining)
    {
        string eta = (long)done * 50 >= total ? Duration(remaining) : "?";
        string status = string.Create(CultureInfo.InvariantCulture, $"{done:N0}/{total:N0}, {perSecond:F0} img/s, ETA {eta}");
        Update(done >= total, $"{what} {Bar(done, total)} {status}", $"{what}: {status}");
    }

    private static string Bar(long done, long total)
    {
        int filled = total <= 0 ? 0 : (int)Math.Clamp(done * BarWidth / total, 0, BarWidth);
        return "[" + new string('#', filled) + new string('-', BarWidth - filled) + "]";
    }

    private void Update(bool final, string interactiveText, string plainText)
    {
        var now = _clock.Elapsed;
        if (!final && _lastDrawn is { } last && now - last < _interval)
        {
            return;
        }

        _lastDrawn = now;
        if (!_interactive)
        {
            // The final state is followed by the caller's own summary line, so it is not repeated.
            if (!final)
            {
                _output.WriteLine(plainText);
            }

            return;
        }

        string text = interactiveText.Length > ConsoleWidth() - 1 ? interactiveText[..(ConsoleWidth() - 1)] : interactiveText;
        _output.Write('\r' + text.PadRight(_drawnLength));
        _output.Flush();
        _drawnLength = text.Length;
    }

    private static int ConsoleWidth()
    {
        try
        {
            return Console.WindowWidth > 20 ? Console.WindowWidth : 120;
        }
        catch (IOException)
        {
            return 120;
        }
    }
}
