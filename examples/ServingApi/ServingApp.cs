using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Serving;

namespace MLNetCnn.Examples.ServingApi;

/// <summary>
/// An ASP.NET Core service for a model trained on an encoded-image column named <c>ImageBytes</c>:
/// <c>POST /predict</c> with the image file as the body (any content type) answers
/// <c>{ "label": ..., "scores": [{ "label": ..., "probability": ... }] }</c>. Engines come from a
/// <see cref="ScoringEnginePool{TData, TPrediction}"/>. Bad requests get 4xx answers, never a 5xx: an empty
/// body, one that is not an image or is truncated 400; a body over <see cref="MaxImageBytes"/>, or an image whose
/// header declares more pixels than <see cref="ImageDecodeLimit"/> allows (a decompression bomb), 413.
/// </summary>
/// <remarks>
/// Memory is bounded by design: the decode limit (configuration <c>MaxImagePixels</c>, default
/// <see cref="ImageDecodeLimit.DefaultMaxPixels"/>) is checked from the header before decoding, and at most
/// <c>MaxConcurrentPredictions</c> images (default: the processor count) are decoded and scored at once, each
/// taking at most about 8 bytes per pixel of the limit while it is decoded. Later requests wait their turn, so
/// the pool never builds more engines than it keeps, and each engine holds at most its last decoded image. At most
/// <c>MaxConcurrentUploads</c> bodies (default twice the predictions) are read into memory at once, each at most
/// <see cref="MaxImageBytes"/>, and a body takes the memory of the bytes that arrived, not of the length a client
/// announced; other uploads wait in Kestrel's per-connection buffers (1 MB by default), of which there are at most
/// <c>MaxConnections</c> (default <see cref="DefaultMaxConnections"/>): Kestrel closes a connection over the limit at once.
/// </remarks>
public static class ServingApp
{
    /// <summary>Largest accepted body.</summary>
    public const long MaxImageBytes = 8 * 1024 * 1024;

    /// <summary>
    /// Open connections Kestrel keeps when configuration <c>MaxConnections</c> does not say: each may hold up to
    /// Kestrel's 1 MB request buffer, so 256 bound that memory to 256 MB (Kestrel's own default is no limit).
    /// </summary>
    public const long DefaultMaxConnections = 256;

    /// <summary>
    /// Builds the app; the model path comes from <paramref name="modelPath"/>, else configuration <c>ModelPath</c>,
    /// else model.zip. Configuration <c>MaxImagePixels</c> sets the process-wide decode limit and
    /// <c>MaxConcurrentPredictions</c> how many requests are scored at once, and <c>MaxConnections</c> how many
    /// connections are kept open.
    /// </summary>
    public static WebApplication Build(string[] args, string? modelPath = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        long connections = builder.Configuration.GetValue<long?>("MaxConnections") ?? DefaultMaxConnections;
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1, "MaxConnections");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = MaxImageBytes;
            k.Limits.MaxConcurrentConnections = connections;
        });
        string path = modelPath ?? builder.Configuration["ModelPath"] ?? "model.zip";
        if (builder.Configuration.GetValue<long?>("MaxImagePixels") is { } maxPixels)
        {
            ImageDecodeLimit.Current = ImageDecodeLimit.Current with { MaxPixels = maxPixels };
        }

        int concurrency = builder.Configuration.GetValue<int?>("MaxConcurrentPredictions") ?? Environment.ProcessorCount;
        // Loaded now, not on the first request: a missing or unsuitable model stops the start with one clear error
        // instead of a server that listens and answers 500 to everything. (Registered through a factory so that
        // the container disposes it at shutdown.)
        var service = new ImageClassifierService(path, concurrency, builder.Configuration.GetValue<int?>("MaxConcurrentUploads"));
        builder.Services.AddSingleton(_ => service);
        var app = builder.Build();
        app.MapGet("/health", (ImageClassifierService model) => Results.Ok(new { status = "ok", classes = model.ClassNames.Count }));
        app.MapPost("/predict", PredictAsync);
        return app;
    }

    private static async Task<IResult> PredictAsync(HttpRequest request, ImageClassifierService model, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxImageBytes)
        {
            return Results.Problem($"The image is {request.ContentLength} bytes; the limit is {MaxImageBytes}.", statusCode: StatusCodes.Status413PayloadTooLarge);
        }

        byte[] body;
        try
        {
            body = await model.ReadBodyAsync(request, MaxImageBytes, cancellationToken);
        }
        catch (BadHttpRequestException e)
        {
            return Results.Problem(e.Message, statusCode: e.StatusCode);
        }
        catch (EndOfStreamException)
        {
            return Results.Problem($"The body ended before the {request.ContentLength} bytes its Content-Length announced.", statusCode: StatusCodes.Status400BadRequest);
        }

        if (body.Length == 0)
        {
            return Results.Problem("The request body is empty; post the image file's bytes.", statusCode: StatusCodes.Status400BadRequest);
        }

        try
        {
            return Results.Ok(await model.PredictAsync(body, cancellationToken));
        }
        catch (Exception e) when (Unwrap(e) is InvalidDataException invalid)
        {
            int status = invalid.InnerException is ImageTooLargeException ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest;
            return Results.Problem(invalid.Message, statusCode: status);
        }
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is not InvalidDataException && e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}

/// <summary>The loaded model behind a pool of engines, plus its class names.</summary>
public sealed class ImageClassifierService : IDisposable
{
    private readonly ScoringEnginePool<ImageBytesInput, ImagePrediction> _pool;
    private readonly ITransformer _model;
    private readonly SemaphoreSlim _slots;
    private readonly SemaphoreSlim _uploads;
    private readonly IdleMemoryTrim _trim = new();

    /// <summary>
    /// Loads <paramref name="modelPath"/>; at most <paramref name="maxConcurrentPredictions"/> images are decoded and scored
    /// at once, and at most <paramref name="maxConcurrentUploads"/> request bodies (null: twice the predictions) are read into memory at once.
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="modelPath"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a model, or its model does not score an <c>ImageBytes</c> column of encoded images.</exception>
    public ImageClassifierService(string modelPath, int maxConcurrentPredictions, int? maxConcurrentUploads = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrentPredictions, 1);
        int uploads = maxConcurrentUploads ?? (2 * maxConcurrentPredictions);
        ArgumentOutOfRangeException.ThrowIfLessThan(uploads, 1, "MaxConcurrentUploads");
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"Model '{Path.GetFullPath(modelPath)}' not found; train one with 'dotnet run --project examples/ServingApi.DemoModel -- <path>'.", modelPath);
        }

        var mlContext = new MLContext();
        _model = mlContext.CnnServing().LoadModel(modelPath, out var inputSchema);
        if (inputSchema.GetColumnOrNull(nameof(ImageBytesInput.ImageBytes)) is not { Type: VectorDataViewType { ItemType: var item } } || item != NumberDataViewType.Byte)
        {
            (_model as IDisposable)?.Dispose();
            string columns = string.Join(", ", inputSchema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}' ({c.Type})"));
            throw new InvalidDataException($"Model '{Path.GetFullPath(modelPath)}' scores the columns {columns}; this service posts encoded image bytes, so it serves models trained on a byte-vector column 'ImageBytes' (examples/ServingApi.DemoModel, or ML.NET's LoadRawImageBytes). A model trained on image paths (mlnetcnn train on a folder) is scored with 'mlnetcnn predict'.");
        }

        _pool = mlContext.CnnServing().CreatePool<ImageBytesInput, ImagePrediction>(_model, maximumRetained: maxConcurrentPredictions);
        _slots = new SemaphoreSlim(maxConcurrentPredictions);
        _uploads = new SemaphoreSlim(uploads);
        ClassNames = mlContext.CnnServing().GetClassNames(_pool.OutputSchema);
    }

    /// <summary>
    /// Reads a request body of at most <paramref name="maxBytes"/> once an upload slot is free. Memory follows the bytes
    /// that arrived, not the Content-Length a client announced: a client that announces 8 MB and sends them slowly
    /// holds a slot, while later bodies wait in the server's small per-connection buffers.
    /// </summary>
    /// <exception cref="EndOfStreamException">The body ended before its announced length.</exception>
    /// <exception cref="BadHttpRequestException">The body is larger than <paramref name="maxBytes"/> (413) or the client sent it too slowly.</exception>
    public async Task<byte[]> ReadBodyAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        await _uploads.WaitAsync(cancellationToken);
        try
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    throw new BadHttpRequestException($"The body is larger than the limit of {maxBytes} bytes.", StatusCodes.Status413PayloadTooLarge);
                }

                buffer.Write(chunk, 0, read);
            }

            if (request.ContentLength is long announced && buffer.Length != announced)
            {
                throw new EndOfStreamException();
            }

            return buffer.ToArray();
        }
        finally
        {
            _uploads.Release();
        }
    }

    /// <summary>Class names in score order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>At shutdown (the container disposes singletons): deletes ONNX Runtime's temp copy of the graph.</summary>
    public void Dispose()
    {
        (_model as IDisposable)?.Dispose();
        _slots.Dispose();
        _uploads.Dispose();
        _trim.Dispose();
    }

    /// <summary>Scores one encoded image once a slot is free.</summary>
    /// <exception cref="InvalidDataException">Not an image, truncated, or over the decode limit (then the inner exception is an <see cref="ImageTooLargeException"/>).</exception>
    public async Task<PredictionResponse> PredictAsync(byte[] image, CancellationToken cancellationToken)
    {
        using var request = _trim.Enter();
        await _slots.WaitAsync(cancellationToken);
        try
        {
            var prediction = _pool.Predict(new ImageBytesInput { ImageBytes = image });
            var scores = prediction.Score.Select((p, i) => new ClassScore(ClassNames[i], p)).ToList();
            return new PredictionResponse(ClassNames[(int)prediction.PredictedLabel - 1], scores);
        }
        finally
        {
            _slots.Release();
        }
    }
}

/// <summary>Model input: the encoded image.</summary>
public sealed class ImageBytesInput
{
    /// <summary>The image file's bytes.</summary>
    [VectorType]
    public byte[] ImageBytes { get; set; } = [];
}

/// <summary>Model output.</summary>
public sealed class ImagePrediction
{
    /// <summary>Class probabilities.</summary>
    public float[] Score { get; set; } = [];

    /// <summary>1-based key of the predicted class.</summary>
    public uint PredictedLabel { get; set; }
}

/// <summary>One class's probability.</summary>
public sealed record ClassScore(string Label, float Probability);

/// <summary>The JSON answer.</summary>
public sealed record PredictionResponse(string Label, IReadOnlyList<ClassScore> Scores);
