// The whole program of the fresh project that PackageTests creates outside the repository: it sees the
// library only through the MLNetCnn.Estimators package (and, transitively, Tricks, Architectures and TorchSharp).
using Microsoft.ML;
using MLNetCnn.Estimators;
using MLNetCnn.Estimators.Data;

var mlContext = new MLContext(seed: 1);
var embedded = FashionMnist.Load(mlContext, FashionMnistSplit.Train, FashionMnistSource.Embedded);
var train = mlContext.Data.TakeRows(mlContext.Data.ShuffleRows(embedded, seed: 1), 32);

var trainer = mlContext.Cnn().ImageClassification(new ImageClassificationTrainer.Options
{
    Arch = "resnet18",
    WidthMultiplier = 0.25,
    ImageShape = FashionMnist.ImageShape,
    Epoch = 1,
    BatchSize = 32,
});
using ImageClassificationTransformer model = trainer.Fit(train);

var metrics = mlContext.MulticlassClassification.Evaluate(model.Transform(train));
int scored = (int)metrics.ConfusionMatrix.Counts.Sum(row => row.Sum());
Console.WriteLine($"MLNetCnn package consumer: trained one step, scored {scored} images, accuracy {metrics.MicroAccuracy:F3}");
