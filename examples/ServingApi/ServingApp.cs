using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetCnn.Serving;

namespace MLNetCnn.Examples.ServingApi;

/// <summary>
/// An ASP.NET Core service for a model trained on an encoded-image column named <c>ImageBytes</c>:
/// <c>POST /predict</c> with the image file as the body (any content type) answers
/// <c>{ "label": ..., "scores": [{ "label": ..., "probability": ... }] }</c>. Engines come from a
/// <see cref="ScoringEnginePool{TData, TPrediction}"/>. Bad requests get 4xx answers: an empty body
/// or one that is not an image 400, a body over <see cref="MaxImageBytes"/> 413.
/// </summary>
public static class ServingApp
{
    /// <summary>Largest accepted body.</summary>
    public const long MaxImageBytes = 8 * 1024 * 1024;

    /// <summary>Builds the app; the model path comes from <paramref name="modelPath"/>, else configuration <c>ModelPath</c>, else model.zip.</summary>
    public static WebApplication Build(string[] args, string? modelPath = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = MaxImageBytes);
        string path = modelPath ?? builder.Configuration["ModelPath"] ?? "model.zip";
        builder.Services.AddSingleton(_ => new ImageClassifierService(path));
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
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, cancellationToken);
            body = buffer.ToArray();
        }
        catch (BadHttpRequestException e)
        {
            return Results.Problem(e.Message, statusCode: e.StatusCode);
        }

        if (body.Length == 0)
        {
            return Results.Problem("The request body is empty; post the image file's bytes.", statusCode: StatusCodes.Status400BadRequest);
        }

        try
        {
            return Results.Ok(model.Predict(body));
        }
        catch (Exception e) when (Unwrap(e) is InvalidDataException invalid)
        {
            return Results.Problem(invalid.Message, statusCode: StatusCodes.Status400BadRequest);
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

    /// <summary>Loads <paramref name="modelPath"/>.</summary>
    public ImageClassifierService(string modelPath)
    {
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"Model '{Path.GetFullPath(modelPath)}' not found; train one with 'dotnet run --project examples/ServingApi.DemoModel -- <path>'.", modelPath);
        }

        var mlContext = new MLContext();
        _model = mlContext.CnnServing().LoadModel(modelPath, out _);
        _pool = mlContext.CnnServing().CreatePool<ImageBytesInput, ImagePrediction>(_model);
        ClassNames = mlContext.CnnServing().GetClassNames(_pool.OutputSchema);
    }

    /// <summary>Class names in score order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>At shutdown (the container disposes singletons): deletes ONNX Runtime's temp copy of the graph.</summary>
    public void Dispose() => (_model as IDisposable)?.Dispose();

    /// <summary>Scores one encoded image.</summary>
    public PredictionResponse Predict(byte[] image)
    {
        var prediction = _pool.Predict(new ImageBytesInput { ImageBytes = image });
        var scores = prediction.Score.Select((p, i) => new ClassScore(ClassNames[i], p)).ToList();
        return new PredictionResponse(ClassNames[(int)prediction.PredictedLabel - 1], scores);
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
