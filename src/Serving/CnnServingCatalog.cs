using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

/// <summary>Entry point of the serving package: <c>mlContext.CnnServing()</c>.</summary>
public static class MLContextCnnServingExtensions
{
    /// <summary>Loading and scoring MLNetCnn models with ML.NET and ONNX Runtime alone (also registers this assembly so saved models load).</summary>
    public static CnnServingCatalog CnnServing(this MLContext mlContext) => new(mlContext ?? throw new ArgumentNullException(nameof(mlContext)));
}

/// <summary>Model loading, class names and engine pools for trained image classifiers; nothing here loads libtorch.</summary>
public sealed partial class CnnServingCatalog
{
    private readonly MLContext _mlContext;

    internal CnnServingCatalog(MLContext mlContext)
    {
        _mlContext = mlContext;
        _mlContext.ComponentCatalog.RegisterAssembly(typeof(ScoreArgMax).Assembly);
    }

    /// <summary>
    /// Loads a model saved with <c>mlContext.Model.Save</c>, registering what its scoring chain needs. Scoring errors
    /// caused by an input file (missing, not an image) surface as <see cref="InvalidDataException"/> naming the file,
    /// rather than under ML.NET's worker-thread wrapper. Dispose the model when done (it deletes ONNX Runtime's
    /// temporary copy of the graph). As with <c>mlContext.Model.Load</c>, <c>inputSchema</c> is null when the model was
    /// saved without one (<c>mlContext.Model.Save(model, null, path)</c>); such a model loads and scores all the same.
    /// </summary>
    /// <remarks>
    /// The zip is checked first: each entry is inflated once, never past the size it declares, and compared with its
    /// CRC-32 (an entry declaring over 100 times its compressed size is refused unread as a zip bomb); every ONNX graph
    /// must load in ONNX Runtime and declare shapes ML.NET can serve (a bad one is reported naming the zip, before ML.NET
    /// copies it to a temporary file it would leave behind). After loading, the chain is bound to its input schema once,
    /// so a graph input of another size than the steps before it give is refused here rather than at the first
    /// prediction, and the graph must score as many classes as the model has class names.
    /// </remarks>
    /// <exception cref="InvalidDataException">
    /// The file is not a model zip, an entry is damaged or a zip bomb, a graph is damaged or does not fit the model's
    /// steps, the class counts differ, or the model names an assembly or a
    /// custom-mapping contract this process lacks (saved by another version), or ML.NET cannot register its components in this
    /// process (an application published with PublishTrimmed); the message names the file and what is missing.
    /// </exception>
    /// <exception cref="InvalidOperationException"><c>MLContext.GpuDeviceId</c> is set, <c>FallbackToCpu</c> is false, and ONNX Runtime's CUDA provider cannot be created.</exception>
    public ITransformer LoadModel(string path, out DataViewSchema? inputSchema)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = File.OpenRead(path);
        return LoadModel(file, path, out inputSchema);
    }

    /// <summary>Loads a model from a stream, with the checks of <see cref="LoadModel(string, out DataViewSchema)"/>.</summary>
    /// <exception cref="InvalidDataException">The stream is not a model zip, a graph is damaged, or the class counts differ.</exception>
    public ITransformer LoadModel(Stream stream, out DataViewSchema? inputSchema)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek)
        {
            return LoadModel(stream, "the model stream", out inputSchema);
        }

        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        copy.Position = 0;
        return LoadModel(copy, "the model stream", out inputSchema);
    }

    private ServedModel LoadModel(Stream zip, string source, out DataViewSchema? inputSchema)
    {
        // Found by a sweep: without this, a GPU that cannot be used read as "the zip is damaged", nine exceptions deep.
        ServingPipeline.CheckScoringDevice(_mlContext.GpuDeviceId, _mlContext.FallbackToCpu);
        long start = zip.Position;
        var shapes = ModelIntegrity.CheckGraphs(zip, source);
        zip.Position = start;
        ITransformer model;
        try
        {
            model = LoadRetryingAMisreadGraphCopy(zip, start, out inputSchema);
        }
        catch (Exception e) when ((FromUnwritableTempFolder(e, source) ?? FromAnotherVersion(e, source) ?? FromTrimmedProcess(e, source)) is { } explained)
        {
            throw explained;
        }
        catch (Exception e) when (Unwrap(e) is InvalidDataException or FormatException or EndOfStreamException or InvalidOperationException or NotSupportedException or ArgumentException)
        {
            // ML.NET reports a damaged part of the zip some wrappers deep and without naming the file, and its
            // "Error during class instantiation" names no cause: the innermost exception says what was wrong.
            ReleaseAbandonedGraphCopies();
            throw new InvalidDataException($"Model '{source}' cannot be loaded by ML.NET, so the zip is damaged or was not saved by mlContext.Model.Save: {Cause(e)}", Unwrap(e));
        }

        // A model saved without its input schema (Model.Save(model, null, path)) is checked against its graph's inputs.
        var trainedOn = inputSchema ?? ModelIntegrity.GraphInputSchema(model, shapes);
        ModelIntegrity.CheckFits(model, trainedOn, shapes, source);
        ModelIntegrity.CheckClassCount(model, shapes.ScoreWidth, source);
        return new ServedModel(model, trainedOn, ClassNamesOrNull(model, trainedOn), shapes.PixelRanges);
    }

    /// <summary>The class names the chain scores for its saved schema; null where that schema does not bind it (an MLImage column is not saved).</summary>
    private IReadOnlyList<string>? ClassNamesOrNull(ITransformer model, DataViewSchema trainedOn)
    {
        try
        {
            return GetClassNames(model.GetOutputSchema(trainedOn));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>
    /// A model that names an assembly this process cannot load (another version of MLNetCnn.Serving, or a library that
    /// is not deployed), or a custom-mapping contract no registered assembly provides (a newer MLNetCnn's step, or the
    /// application's own <c>CustomMapping</c>): ML.NET reports either several wrappers deep, as "Could not load file or
    /// assembly" under a TargetInvocationException or as "Error during class instantiation".
    /// </summary>
    private static InvalidDataException? FromAnotherVersion(Exception e, string source)
    {
        foreach (var inner in Chain(e))
        {
            string? assembly = inner switch
            {
                FileNotFoundException { FileName: { } name } when !Path.IsPathRooted(name) => name,
                FileLoadException { FileName: { } name } when !Path.IsPathRooted(name) => name,
                _ => null,
            };
            if (assembly is not null)
            {
                return new InvalidDataException($"Model '{source}' needs assembly '{assembly}', which this process cannot load ({inner.GetType().Name}); it was saved by another version of MLNetCnn or with a library that is not deployed here (this process has {typeof(CnnServingCatalog).Assembly.FullName}).", inner);
            }

            if (MissingContract().Match(inner.Message) is { Success: true } contract)
            {
                return new InvalidDataException($"Model '{source}' uses the custom mapping '{contract.Groups[1].Value}', which no registered assembly provides: it was saved by another version of MLNetCnn, or with an application's own CustomMapping (register that assembly with mlContext.ComponentCatalog.RegisterAssembly before loading).", inner);
            }
        }

        return null;
    }

    /// <summary>
    /// ML.NET unpacks a model into a folder under <c>MLContext.TempFilePath</c> (the system's temporary folder unless set),
    /// and ONNX Runtime's graph goes there too. Where that folder is missing or read-only (a container with a read-only
    /// root file system, a TMPDIR that does not exist), ML.NET's IOException read as "needs assembly '/the/temp/folder'
    /// ... saved by another version of MLNetCnn" (found by an outside sweep). The folder is tried only after a failed load.
    /// </summary>
    private InvalidDataException? FromUnwritableTempFolder(Exception e, string source)
    {
        if (!Chain(e).Any(x => x is IOException or UnauthorizedAccessException))
        {
            return null;
        }

        foreach (string folder in new[] { _mlContext.TempFilePath, Path.GetTempPath() }.Where(f => !string.IsNullOrEmpty(f)).Distinct(StringComparer.Ordinal))
        {
            if (TempGraphFiles.WhyNotWritable(folder) is { } why)
            {
                return new InvalidDataException($"Model '{source}' cannot be loaded: ML.NET unpacks it into the temporary folder '{folder}', which cannot be written here ({why.Message}). Point MLContext.TempFilePath (or the TMPDIR environment variable) at a writable folder.", Unwrap(e));
            }
        }

        return null;
    }

    /// <summary><paramref name="e"/> and its inner exceptions, outermost first.</summary>
    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            yield return inner;
        }
    }

    /// <summary>
    /// ML.NET finds its components' constructors by reflection. In an application published with <c>PublishTrimmed</c>
    /// (or as native AOT) the trimmer removes them, and ML.NET's catalog fails before it reads the zip with "Can't
    /// instantiate loadable class 'CrossValidationCommand' with name 'CV'", which read as a damaged zip (found by an
    /// outside sweep: a trimmed, self-contained ASP.NET Core service).
    /// </summary>
    internal static InvalidDataException? FromTrimmedProcess(Exception e, string source)
    {
        var inner = Chain(e).FirstOrDefault(x => x is InvalidOperationException && x.Message.StartsWith("Can't instantiate loadable class", StringComparison.Ordinal));
        return inner is null ? null
            : new InvalidDataException($"Model '{source}' cannot be loaded because ML.NET cannot register its own components in this process ({inner.Message}); the zip passed its checks and is not the cause. An application published with PublishTrimmed or as native AOT loses the constructors ML.NET finds by reflection: ML.NET and MLNetCnn do not support trimming, so publish without PublishTrimmed.", inner);
    }

    [GeneratedRegex("Unable to locate an extension for the contract '([^']*)'")]
    private static partial Regex MissingContract();

    /// <summary>ML.NET's message and, when it only wraps another (as "Error during class instantiation" does), the innermost one's.</summary>
    private static string Cause(Exception e)
    {
        var outer = Unwrap(e);
        var inner = Chain(outer).Last();
        return inner == outer ? outer.Message : $"{outer.Message} {inner.Message}";
    }

    /// <summary>
    /// ML.NET's <c>Model.Load</c>, once more (up to three tries) when ONNX Runtime took ML.NET's copy of a graph for a graph
    /// in its own ORT format. ML.NET writes that copy to <c>Path.GetRandomFileName()</c>, an 8.3 name whose random
    /// three-letter extension is "ort" about once in 32,768 loads, and ONNX Runtime reads a file so named as ORT format and
    /// fails with "ORT model verification failed": a sound model failed to load at random (once in a CI run of the test
    /// suite). The next try gets another name.
    /// </summary>
    private ITransformer LoadRetryingAMisreadGraphCopy(Stream zip, long start, out DataViewSchema? inputSchema)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return _mlContext.Model.Load(zip, out inputSchema);
            }
            catch (Exception e) when (attempt < 3 && IsGraphCopyReadAsOrtFormat(e))
            {
                ReleaseAbandonedGraphCopies();
                zip.Position = start;
            }
        }
    }

    /// <summary>Whether ONNX Runtime failed <paramref name="e"/> reading a graph as ORT format (a file named *.ort).</summary>
    internal static bool IsGraphCopyReadAsOrtFormat(Exception e) =>
        Chain(e).Any(x => x.Message.Contains("ORT model verification failed", StringComparison.Ordinal));

    /// <summary>
    /// ML.NET's <c>OnnxModel</c> copies the graph to a file in <c>MLContext.TempFilePath</c> and opens it with
    /// <c>DeleteOnClose</c> before it reads the graph's types; when that constructor or the transformer's then fails,
    /// nothing disposes the stream, and the copy goes only when the stream is finalized: never, in a command that
    /// exits first. A failed load is rare and already slow, so it collects the abandoned stream now.
    /// </summary>
    private static void ReleaseAbandonedGraphCopies()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    private static Exception Unwrap(Exception e) => e is System.Reflection.TargetInvocationException { InnerException: { } inner } ? Unwrap(inner) : e;

    /// <summary>
    /// The class names of a trained or loaded classifier in score order: <c>Score[i]</c> is the probability of
    /// the i-th name, and <c>PredictedLabel</c> key <c>k</c> is name <c>k - 1</c>.
    /// </summary>
    /// <param name="model">A trained model, or one from <see cref="LoadModel(string, out DataViewSchema)"/>.</param>
    /// <param name="inputSchema">The schema the model scores (the one <see cref="LoadModel(string, out DataViewSchema)"/> returns).</param>
    /// <exception cref="ArgumentException"><paramref name="inputSchema"/> is null (the model was saved without one): pass a scored schema to <see cref="GetClassNames(DataViewSchema)"/> instead.</exception>
    public IReadOnlyList<string> GetClassNames(ITransformer model, DataViewSchema? inputSchema)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (inputSchema is null)
        {
            throw new ArgumentException("The input schema is null: the model was saved without an input schema (mlContext.Model.Save(model, null, path)), so LoadModel returns none. Pass a scored schema instead: GetClassNames(model.GetOutputSchema(data.Schema)) or a PredictionEngine's OutputSchema.", nameof(inputSchema));
        }

        return GetClassNames(model.GetOutputSchema(inputSchema));
    }

    /// <summary>
    /// The class names in score order, read from the key values of the <c>PredictedLabel</c> column of a scored
    /// schema (a transformed <see cref="IDataView"/>'s, or a <c>PredictionEngine</c>'s <c>OutputSchema</c>), or from
    /// <c>Score</c>'s slot names where a pipeline's last <c>MapKeyToValue("PredictedLabel")</c> made the key its text.
    /// </summary>
    /// <exception cref="InvalidDataException">The <c>Score</c> column has another width than there are names.</exception>
    public IReadOnlyList<string> GetClassNames(DataViewSchema outputSchema)
    {
        ArgumentNullException.ThrowIfNull(outputSchema);
        const string column = ServingPipeline.PredictedLabelColumnName;
        if (outputSchema.GetColumnOrNull(column) is not { } predicted)
        {
            throw new ArgumentException($"The schema has no '{column}' column (columns: {string.Join(", ", outputSchema.Where(c => !c.IsHidden).Select(c => c.Name))}); pass the output schema of an MLNetCnn image classifier.", nameof(outputSchema));
        }

        var list = predicted.Type is KeyDataViewType key ? ClassKeyValues.AsText(predicted, (int)key.Count) : ScoreAnnotations.Names(outputSchema);
        if (list is null)
        {
            throw new ArgumentException($"Column '{column}' ({predicted.Type}) has no key values to name the classes, and no '{ServingPipeline.ScoreColumnName}' column with slot names; expected the output of an MLNetCnn image classifier.", nameof(outputSchema));
        }

        ModelIntegrity.CheckClassCount(outputSchema, list.Count);
        return list;
    }

    /// <summary>A thread-safe pool of prediction engines over <paramref name="model"/> (register it as a singleton in a web app).</summary>
    public ScoringEnginePool<TData, TPrediction> CreatePool<TData, TPrediction>(ITransformer model, int? maximumRetained = null)
        where TData : class
        where TPrediction : class, new() => new(_mlContext, model, maximumRetained);
}
