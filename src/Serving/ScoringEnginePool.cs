using System.Collections.Concurrent;
using Microsoft.ML;

namespace MLNetCnn.Serving;

/// <summary>
/// A thread-safe pool of <see cref="PredictionEngine{TSrc, TDst}"/>s over one model (named apart from
/// Microsoft.Extensions.ML's <c>PredictionEnginePool</c>, whose shape it shares). A <c>PredictionEngine</c> is
/// not thread-safe, and building one per request is slow: register the pool as a singleton and call
/// <see cref="Predict"/> from any thread.
/// </summary>
/// <remarks>
/// The engines do not own the model (<c>PredictionEngineOptions.OwnsTransformer</c> false; ML.NET's default is true,
/// and disposing such an engine disposes its model), so disposing one, as the pool does with the extra engines made
/// under a burst beyond <see cref="MaximumRetained"/>, leaves the model and the other engines scoring.
/// </remarks>
/// <typeparam name="TData">Input row class (its properties name the model's input columns).</typeparam>
/// <typeparam name="TPrediction">Output row class.</typeparam>
public sealed class ScoringEnginePool<TData, TPrediction>
    where TData : class
    where TPrediction : class, new()
{
    private readonly MLContext _mlContext;
    private readonly ConcurrentBag<PredictionEngine<TData, TPrediction>> _idle = new();
    private readonly ScoringGate? _gate;
    private int _idleCount;

    /// <summary>Creates the pool and its first engine.</summary>
    /// <param name="mlContext">The context the model was loaded in.</param>
    /// <param name="model">The model, e.g. from <c>mlContext.CnnServing().LoadModel</c>.</param>
    /// <param name="maximumRetained">Idle engines kept; null for twice the processor count.</param>
    public ScoringEnginePool(MLContext mlContext, ITransformer model, int? maximumRetained = null)
    {
        _mlContext = mlContext ?? throw new ArgumentNullException(nameof(mlContext));
        Model = model ?? throw new ArgumentNullException(nameof(model));
        MaximumRetained = maximumRetained ?? (2 * Environment.ProcessorCount);
        if (MaximumRetained < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maximumRetained), maximumRetained, "At least one engine must be retained.");
        }

        _gate = FindGate(model);
        var first = GetPredictionEngine();
        OutputSchema = first.OutputSchema;
        ReturnPredictionEngine(first);
    }

    /// <summary>The model every engine scores with.</summary>
    public ITransformer Model { get; }

    /// <summary>Idle engines kept for reuse.</summary>
    public int MaximumRetained { get; }

    /// <summary>Schema of the engines' output (for key values such as the class names).</summary>
    public DataViewSchema OutputSchema { get; }

    /// <summary>Scores one example on a pooled engine; the full-size image a model decoded for it is freed before this returns.</summary>
    /// <exception cref="ObjectDisposedException">The model was disposed (a <c>Dispose</c> that begins while predictions run waits for them).</exception>
    public TPrediction Predict(TData example)
    {
        var gate = _gate;
        if (gate is not null && !gate.TryEnter())
        {
            throw new ObjectDisposedException(Model.GetType().Name, "The pool's model was disposed; create a pool over a loaded model to score.");
        }

        try
        {
            using var release = ImageDecoding.ReleaseDecodedImages();
            var engine = GetPredictionEngine();
            try
            {
                return engine.Predict(example);
            }
            finally
            {
                ReturnPredictionEngine(engine);
            }
        }
        finally
        {
            gate?.Exit();
        }
    }

    /// <summary>The gate of the model, or of the library's model inside a chain (<c>pipeline.Append(...)</c>).</summary>
    private static ScoringGate? FindGate(ITransformer model) => model switch
    {
        IGatedModel gated => gated.Gate,
        IEnumerable<ITransformer> chain => chain.Select(FindGate).FirstOrDefault(g => g is not null),
        _ => null,
    };

    /// <summary>Takes an idle engine (or builds one, not owning the model); give it back with <see cref="ReturnPredictionEngine"/>.</summary>
    public PredictionEngine<TData, TPrediction> GetPredictionEngine()
    {
        if (_idle.TryTake(out var engine))
        {
            Interlocked.Decrement(ref _idleCount);
            return engine;
        }

        return _mlContext.Model.CreatePredictionEngine<TData, TPrediction>(Model, new PredictionEngineOptions { OwnsTransformer = false });
    }

    /// <summary>Returns an engine taken with <see cref="GetPredictionEngine"/>; beyond <see cref="MaximumRetained"/> idle engines it is disposed (the model is not).</summary>
    public void ReturnPredictionEngine(PredictionEngine<TData, TPrediction> engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (Interlocked.Increment(ref _idleCount) <= MaximumRetained)
        {
            _idle.Add(engine);
        }
        else
        {
            Interlocked.Decrement(ref _idleCount);
            engine.Dispose();
        }
    }
}
