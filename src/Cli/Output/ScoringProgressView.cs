using Microsoft.ML;
using MLNetCnn.Serving;

namespace MLNetCnn.Cli.Output;

/// <summary>
/// A view of labelled rows that shows, on a <see cref="ProgressDisplay"/>, how many of them its readers have taken: put
/// under a model's <c>Transform</c>, it shows the scoring of the rows as ML.NET's evaluator pulls them through the model.
/// Readers on several threads (a cursor set) count together.
/// </summary>
internal sealed class ScoringProgressView : PassThroughView
{
    private readonly ProgressDisplay _progress;
    private readonly string _what;
    private readonly int _total;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly object _drawing = new();
    private int _done;

    /// <param name="inner">The rows to count.</param>
    /// <param name="total">How many rows there are.</param>
    /// <param name="progress">Where the count shows.</param>
    /// <param name="what">What is being scored, for the line ("held-out images").</param>
    public ScoringProgressView(IDataView inner, int total, ProgressDisplay progress, string what)
        : base(inner)
    {
        _total = total;
        _progress = progress;
        _what = what;
    }

    protected override DataViewRowCursor Wrap(DataViewRowCursor cursor) => new Counting(cursor, this);

    private void Advanced()
    {
        int done = Interlocked.Increment(ref _done);
        lock (_drawing)
        {
            _progress.Scoring(Math.Min(done, _total), _total, _clock.Elapsed, _what);
        }
    }

    private sealed class Counting(DataViewRowCursor inner, ScoringProgressView view) : PassThroughCursor(inner)
    {
        public override bool MoveNext()
        {
            if (!Source.MoveNext())
            {
                return false;
            }

            view.Advanced();
            return true;
        }
    }
}
