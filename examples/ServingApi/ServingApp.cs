using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Serving;

namespace MLNetCnn.Examples.ServingApi;

/// <summary>
/// An ASP.NET Core service for a model trained on an encoded-image column named <c>ImageBytes</c>, or on image paths in a
/// column <c>ImagePath</c> (what <c>mlnetcnn train</c> makes from a folder; each posted image is then scored from a
/// temporary file), or on a square grey or RGB pixel vector (Fashion-MNIST's; each posted image is then decoded, resized
/// and made grey in front of the model, <c>CnnServing().WithImageBytesInput</c>): <c>POST /predict</c> with the image file's raw bytes as the body (any content type but multipart) answers
/// <c>{ "label": ..., "scores": [{ "label": ..., "probability": ... }] }</c>. Engines come from a
/// <see cref="ScoringEnginePool{TData, TPrediction}"/>. Bad requests get 4xx answers: an empty
/// body, one that is not an image or is truncated 400; a body over <see cref="MaxImageBytes"/>, or an image whose
/// header declares more pixels than <see cref="ImageDecodeLimit"/> allows (a decompression bomb), 413; a form upload
/// (<c>multipart/form-data</c>, <c>curl -F</c>) 415; a body that does not arrive within <c>UploadTimeoutSeconds</c> 408.
/// The one 5xx is a 503 with Retry-After when no upload slot frees within <c>UploadQueueTimeoutSeconds</c>.
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
/// <c>MaxConnections</c> (default <see cref="ServingSettings.DefaultMaxConnections"/>): Kestrel closes a connection over the limit at once.
/// A body holds its slot for at most <c>UploadTimeoutSeconds</c>, so slow clients cannot keep the slots from others.
/// </remarks>
public static class ServingApp
{
    /// <summary>Largest accepted body.</summary>
    public const long MaxImageBytes = 8 * 1024 * 1024;

    /// <summary>
    /// Builds the app; the model path comes from <paramref name="modelPath"/>, else configuration <c>ModelPath</c>,
    /// else model.zip. The limits come from configuration (<see cref="ServingSettings"/>: <c>MaxImagePixels</c>,
    /// <c>MaxConcurrentPredictions</c>, <c>MaxConcurrentUploads</c>, <c>MaxConnections</c>, <c>UploadTimeoutSeconds</c>,
    /// <c>UploadQueueTimeoutSeconds</c>, <c>RequestHeadersTimeoutSeconds</c>).
    /// </summary>
    /// <exception cref="ServingConfigurationException">A configuration value is not a number or out of range.</exception>
    /// <exception cref="FileNotFoundException">No model at the path.</exception>
    /// <exception cref="InvalidDataException">The model cannot be loaded or does not score encoded image bytes.</exception>
    public static WebApplication Build(string[] args, string? modelPath = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        var settings = ServingSettings.Read(builder.Configuration);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = MaxImageBytes;
            k.Limits.MaxConcurrentConnections = settings.MaxConnections;
            k.Limits.RequestHeadersTimeout = settings.RequestHeadersTimeout;
        });
        string path = modelPath ?? builder.Configuration["ModelPath"] ?? "model.zip";
        if (settings.MaxImagePixels is { } maxPixels)
        {
            ImageDecodeLimit.Current = ImageDecodeLimit.Current with { MaxPixels = maxPixels };
        }

        // Loaded now, not on the first request: a missing or unsuitable model stops the start with one clear error
        // instead of a server that listens and answers 500 to everything. Registered through a factory and resolved
        // at once, so that the container owns it and disposes it at shutdown: it disposes a factory's singleton only
        // once resolved, and a service stopped before its first request left ML.NET's copy of the graph in /tmp.
        var service = new ImageClassifierService(path, settings);
        builder.Services.AddSingleton(_ => service);
        var app = builder.Build();
        _ = app.Services.GetRequiredService<ImageClassifierService>();
        app.MapGet("/health", (ImageClassifierService model) => Results.Ok(new { status = "ok", classes = model.ClassNames.Count }));
        app.MapPost("/predict", PredictAsync);
        return app;
    }

    private static async Task<IResult> PredictAsync(HttpRequest request, ImageClassifierService model, CancellationToken cancellationToken)
    {
        // Not HasFormContentType: curl --data-binary labels raw bytes application/x-www-form-urlencoded.
        if (request.ContentType is { } type && type.TrimStart().StartsWith("multipart/", StringComparison.OrdinalIgnoreCase))
        {
            return Results.Problem($"The body is a multipart form ({type.Split(';')[0].Trim()}). {RawBodyHint}", statusCode: StatusCodes.Status415UnsupportedMediaType);
        }

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
            if (e.StatusCode == StatusCodes.Status503ServiceUnavailable)
            {
                request.HttpContext.Response.Headers.RetryAfter = $"{Math.Max(1, (int)Math.Ceiling(model.Settings.UploadTimeout.TotalSeconds))}";
            }
            else
            {
                // The rest of the body is not read: the client should not reuse the connection (Kestrel drains the
                // rest for at most 5 s, then closes it).
                request.HttpContext.Response.Headers.Connection = "close";
            }

            return Results.Problem(e.Message, statusCode: e.StatusCode);
        }
        catch (IOException e) when (e.InnerException is OverflowException && request.Headers.TransferEncoding.Count > 0)
        {
            // Kestrel reports a chunk size too large for a long as an IOException around the OverflowException (every
            // other malformed chunk is its BadHttpRequestException, 400). Only its chunked-body parser throws that pair
            // while the body is read; any other IOException stays a server error.
            request.HttpContext.Response.Headers.Connection = "close";
            return Results.Problem($"The chunked body is malformed: {e.Message} (a chunk size too large for a 64-bit number).", statusCode: StatusCodes.Status400BadRequest);
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
            return invalid.InnerException is ImageTooLargeException
                ? Results.Problem(invalid.Message, statusCode: StatusCodes.Status413PayloadTooLarge)
                : Results.Problem($"{invalid.Message} {RawBodyHint}", statusCode: StatusCodes.Status400BadRequest);
        }
    }

    private const string RawBodyHint = "Post the image file's raw bytes as the body (curl --data-binary @image.png <host>/predict), not a multipart form (curl -F).";

    /// <summary>The <see cref="InvalidDataException"/> that <paramref name="e"/> is or wraps, else its innermost exception.</summary>
    internal static Exception Unwrap(Exception e)
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
    private readonly Func<byte[], ImagePrediction> _score;
    private readonly DirectoryInfo? _postedFiles;
    private readonly ITransformer _model;
    private readonly SemaphoreSlim _slots;
    private readonly SemaphoreSlim _uploads;
    private readonly IdleMemoryTrim _trim = new();

    /// <summary>
    /// Loads <paramref name="modelPath"/>; at most <see cref="ServingSettings.MaxConcurrentPredictions"/> images are decoded
    /// and scored at once, and at most <see cref="ServingSettings.MaxConcurrentUploads"/> request bodies are read into memory at once.
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="modelPath"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a model, or its model scores neither an <c>ImageBytes</c> column of encoded images, an <c>ImagePath</c> column of paths nor a square grey or RGB pixel vector.</exception>
    public ImageClassifierService(string modelPath, ServingSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxConcurrentPredictions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxConcurrentUploads, 1);
        Settings = settings;
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"Model '{Path.GetFullPath(modelPath)}' not found; train one with 'dotnet run --project examples/ServingApi.DemoModel -- <path>'.", modelPath);
        }

        var mlContext = new MLContext();
        _model = mlContext.CnnServing().LoadModel(modelPath, out var inputSchema);
        if (inputSchema is null)
        {
            (_model as IDisposable)?.Dispose();
            throw new InvalidDataException($"Model '{Path.GetFullPath(modelPath)}' was saved without its input schema (mlContext.Model.Save(model, null, path)), so nothing says it scores a byte-vector column 'ImageBytes' or a text column '{ImageFolder.ImagePathColumnName}'; save it with the training data's schema: mlContext.Model.Save(model, trainData.Schema, path).");
        }

        DataViewSchema outputSchema;
        bool bytes = inputSchema.GetColumnOrNull(nameof(ImageBytesInput.ImageBytes)) is { Type: VectorDataViewType { ItemType: var item } } && item == NumberDataViewType.Byte;
        if (!bytes && inputSchema.GetColumnOrNull(ImageFolder.ImagePathColumnName) is { Type: TextDataViewType })
        {
            // A folder-trained model decodes files: each posted image is written to a file of its own in a private folder,
            // scored, and deleted (the decoder checks the same header and limits as for bytes).
            var pool = mlContext.CnnServing().CreatePool<ImagePathInput, ImagePrediction>(Scoring(() => mlContext.CnnServing().WithDefaultInputs(_model, inputSchema, ImageFolder.ImagePathColumnName), modelPath), maximumRetained: settings.MaxConcurrentPredictions);
            var postedFiles = _postedFiles = Directory.CreateTempSubdirectory("mlnetcnn-posted-images-");
            (_score, outputSchema) = (image => ScoreFromFile(pool, postedFiles, image), pool.OutputSchema);
        }
        else
        {
            // The posted bytes go to a bytes model as they are; a model trained on a pixel vector (the README's Fashion-MNIST
            // models) gets each posted image decoded, resized and made grey in front of it, as mlnetcnn predict does for files.
            // A model whose chain also reads its Label (a pipeline that starts with MapValueToKey) gets a default one.
            var fromBytes = Scoring(() => bytes
                ? mlContext.CnnServing().WithDefaultInputs(_model, inputSchema, nameof(ImageBytesInput.ImageBytes))
                : mlContext.CnnServing().WithImageBytesInput(_model, inputSchema, nameof(ImageBytesInput.ImageBytes)), modelPath);
            var pool = mlContext.CnnServing().CreatePool<ImageBytesInput, ImagePrediction>(fromBytes, maximumRetained: settings.MaxConcurrentPredictions);
            (_score, outputSchema) = (image => pool.Predict(new ImageBytesInput { ImageBytes = image }), pool.OutputSchema);
        }

        _slots = new SemaphoreSlim(settings.MaxConcurrentPredictions);
        _uploads = new SemaphoreSlim(settings.MaxConcurrentUploads);
        ClassNames = mlContext.CnnServing().GetClassNames(outputSchema);
    }

    /// <summary>The limits this service applies.</summary>
    public ServingSettings Settings { get; }

    /// <summary>
    /// Reads a request body of at most <paramref name="maxBytes"/> once an upload slot is free. Memory follows the bytes
    /// that arrived, not the Content-Length a client announced: a client that announces 8 MB and sends them slowly
    /// holds a slot, while later bodies wait in the server's small per-connection buffers. A slot is held for at most
    /// <see cref="ServingSettings.UploadTimeout"/>, and a request waits at most <see cref="ServingSettings.UploadQueueTimeout"/> for one.
    /// </summary>
    /// <exception cref="EndOfStreamException">The body ended before its announced length.</exception>
    /// <exception cref="BadHttpRequestException">
    /// The body is larger than <paramref name="maxBytes"/> (413), did not arrive within the upload timeout or the client sent it
    /// too slowly (408), or no upload slot freed within the queue timeout (503).
    /// </exception>
    public async Task<byte[]> ReadBodyAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        if (!await _uploads.WaitAsync(Settings.UploadQueueTimeout, cancellationToken))
        {
            throw new BadHttpRequestException($"All {Settings.MaxConcurrentUploads} upload slots stayed busy for {Settings.UploadQueueTimeout.TotalSeconds:0.###} s (UploadQueueTimeoutSeconds); retry later.", StatusCodes.Status503ServiceUnavailable);
        }

        try
        {
            using var buffer = new MemoryStream();
            var reader = request.BodyReader;

            // At the deadline the pending read returns as cancelled (not a cancelled token, which would leave Kestrel's
            // reader mid-read, so that its draining of the rest fails with an error in the log).
            using var deadline = new CancellationTokenSource(Settings.UploadTimeout);
            using var cancelRead = deadline.Token.Register(reader.CancelPendingRead);
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken);
                bool over = buffer.Length + result.Buffer.Length > maxBytes;
                if (!over)
                {
                    foreach (var segment in result.Buffer)
                    {
                        buffer.Write(segment.Span);
                    }
                }

                reader.AdvanceTo(result.Buffer.End);
                if (over)
                {
                    throw new BadHttpRequestException($"The body is larger than the limit of {maxBytes} bytes.", StatusCodes.Status413PayloadTooLarge);
                }

                if (result.IsCompleted)
                {
                    break;
                }

                if (result.IsCanceled)
                {
                    string announcedLength = request.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "an unannounced number of";
                    throw new BadHttpRequestException($"The body did not arrive within {Settings.UploadTimeout.TotalSeconds:0.###} s (UploadTimeoutSeconds): {buffer.Length} of {announcedLength} bytes came.", StatusCodes.Status408RequestTimeout);
                }
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

    /// <summary>At shutdown (the container disposes singletons): deletes ONNX Runtime's temp copy of the graph, and the folder of posted images for a path model.</summary>
    public void Dispose()
    {
        (_model as IDisposable)?.Dispose();
        _postedFiles?.Delete(recursive: true);
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
            var prediction = _score(image);
            var scores = prediction.Score.Select((p, i) => new ClassScore(ClassNames[i], p)).ToList();
            return new PredictionResponse(ClassNames[(int)prediction.PredictedLabel - 1], scores);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>The loaded model made to score what this service posts; a model it cannot serve is disposed and named.</summary>
    private ITransformer Scoring(Func<ITransformer> build, string modelPath)
    {
        try
        {
            return build();
        }
        catch (ArgumentException e)
        {
            (_model as IDisposable)?.Dispose();
            string why = e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal) : e.Message;
            throw new InvalidDataException($"Model '{Path.GetFullPath(modelPath)}': {why} This service posts encoded image bytes, so it serves models trained on a byte-vector column 'ImageBytes' (examples/ServingApi.DemoModel, or ML.NET's LoadRawImageBytes), on image paths in a text column '{ImageFolder.ImagePathColumnName}' (mlnetcnn train on a folder) or on a square grey or RGB pixel vector in 0..255 or 0..1 (FashionMnist.Load, mlnetcnn train --data fashion-mnist).", e);
        }
    }

    /// <summary>
    /// Scores <paramref name="image"/> from a file of its own in <paramref name="folder"/>, deleted afterwards. A decoding
    /// error names the request body rather than the server's temporary file.
    /// </summary>
    private static ImagePrediction ScoreFromFile(ScoringEnginePool<ImagePathInput, ImagePrediction> pool, DirectoryInfo folder, byte[] image)
    {
        string file = Path.Combine(folder.FullName, $"{Guid.NewGuid():N}.img");
        File.WriteAllBytes(file, image);
        try
        {
            return pool.Predict(new ImagePathInput { ImagePath = file });
        }
        catch (Exception e) when (ServingApp.Unwrap(e) is InvalidDataException invalid)
        {
            throw new InvalidDataException(invalid.Message.Replace($"'{file}'", $"(the request body, {image.Length} bytes)", StringComparison.Ordinal), invalid.InnerException);
        }
        finally
        {
            File.Delete(file);
        }
    }
}

/// <summary>Model input of a model trained on image paths (<c>mlnetcnn train</c> on a folder).</summary>
public sealed class ImagePathInput
{
    /// <summary>The path of the image file.</summary>
    [ColumnName(ImageFolder.ImagePathColumnName)]
    public string ImagePath { get; set; } = string.Empty;
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
