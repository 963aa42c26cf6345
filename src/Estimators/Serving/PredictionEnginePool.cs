using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Estimators.Serving;

/// <summary>
/// A thread-safe pool of <see cref="PredictionEngine{TSrc, TDst}"/>s over one model, shaped like
/// Microsoft.Extensions.ML's <c>PredictionEnginePool</c> (which is not available here). A
/// <c>PredictionEngine</c> is not thread-safe; building one per request is slow. Register the pool as
/// a singleton and call <see cref="Predict"/> from any thread.
/// </summary>
/// <remarks>
/// Engines are never disposed: with Microsoft.ML 5.0.1 on ONNX Runtime 1.31, disposing an engine over
/// an <c>ApplyOnnxModel</c> transformer breaks later scoring in the process (README, Known issues). At
/// most <see cref="MaximumRetained"/> idle engines are kept; extra ones made under a burst are
/// dropped to the garbage collector when returned.
/// </remarks>
/// <typeparam name="TData">Input row class (its properties name the model's input columns).</typeparam>
/// <typeparam name="TPrediction">Output row class.</typeparam>
public sealed class PredictionEnginePool<TData, TPrediction>
    where TData : class
    where TPrediction : class, new()
{
    private readonly ObjectPool<PredictionEngine<TData, TPrediction>> _pool;

    /// <summary>Creates the pool (engines are built on first use).</summary>
    /// <param name="mlContext">The context the model was loaded in.</param>
    /// <param name="model">The model, e.g. from <c>mlContext.Cnn().LoadModel</c>.</param>
    /// <param name="maximumRetained">Idle engines kept; null for twice the processor count.</param>
    public PredictionEnginePool(MLContext mlContext, ITransformer model, int? maximumRetained = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        Model = model ?? throw new ArgumentNullException(nameof(model));
        MaximumRetained = maximumRetained ?? (2 * Environment.ProcessorCount);
        if (MaximumRetained < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maximumRetained), maximumRetained, "At least one engine must be retained.");
        }

        _pool = new DefaultObjectPool<PredictionEngine<TData, TPrediction>>(new EnginePolicy(mlContext, model), MaximumRetained);
        using var probe = new EngineLease(this);
        OutputSchema = probe.Engine.OutputSchema;
    }

    /// <summary>The model every engine scores with.</summary>
    public ITransformer Model { get; }

    /// <summary>Idle engines kept for reuse.</summary>
    public int MaximumRetained { get; }

    /// <summary>Schema of the engines' output (for key values such as the class names).</summary>
    public DataViewSchema OutputSchema { get; }

    /// <summary>Scores one example on a pooled engine; the full-size image a model decoded for it is freed before this returns.</summary>
    public TPrediction Predict(TData example)
    {
        using var lease = new EngineLease(this);
        using var release = Data.ImageDecoding.ReleaseDecodedImages();
        return lease.Engine.Predict(example);
    }

    /// <summary>Takes an engine from the pool (or builds one); give it back with <see cref="ReturnPredictionEngine"/>.</summary>
    public PredictionEngine<TData, TPrediction> GetPredictionEngine() => _pool.Get();

    /// <summary>Returns an engine taken with <see cref="GetPredictionEngine"/>.</summary>
    public void ReturnPredictionEngine(PredictionEngine<TData, TPrediction> engine) => _pool.Return(engine ?? throw new ArgumentNullException(nameof(engine)));

    private readonly struct EngineLease : IDisposable
    {
        private readonly PredictionEnginePool<TData, TPrediction> _owner;

        public EngineLease(PredictionEnginePool<TData, TPrediction> owner)
        {
            _owner = owner;
            Engine = owner._pool.Get();
        }

        public PredictionEngine<TData, TPrediction> Engine { get; }

        public void Dispose() => _owner._pool.Return(Engine);
    }

    private sealed class EnginePolicy(MLContext mlContext, ITransformer model) : IPooledObjectPolicy<PredictionEngine<TData, TPrediction>>
    {
        public PredictionEngine<TData, TPrediction> Create() => mlContext.Model.CreatePredictionEngine<TData, TPrediction>(model);

        public bool Return(PredictionEngine<TData, TPrediction> obj) => true;
    }
}
