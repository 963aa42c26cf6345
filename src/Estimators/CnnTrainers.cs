using Microsoft.ML;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Estimators;

/// <summary>
/// One trainer per architecture family (<c>mlContext.Cnn().Trainers</c>), each taking that family's typed config:
/// the published rows are static members of the config (<c>ResNetConfig.ResNet50</c>) and a variant is a
/// <c>with</c> expression on a row. Every entry returns an <see cref="ImageClassificationTrainer"/>; registered
/// names remain a shortcut (<see cref="CnnCatalog.ImageClassification(string, string, string, int, int, double, ImageShape?)"/>).
/// </summary>
public sealed class CnnTrainers
{
    private readonly MLContext _mlContext;

    internal CnnTrainers(MLContext mlContext) => _mlContext = mlContext;

    /// <summary>Creates an image-classification trainer for any architecture config (a family's row, or a config of your own).</summary>
    /// <param name="config">The network.</param>
    /// <param name="labelColumnName">Key-typed label column.</param>
    /// <param name="featureColumnName">Image column: pixels (vector of Single), MLImage, bytes or file paths; an image folder's <c>ImagePath</c> is found by itself.</param>
    /// <param name="imageShape">Shape of one image; null infers a square grey or RGB image from a pixel vector, and uses 3 x 224 x 224 for image columns.</param>
    /// <param name="training">The training procedure (a recipe such as <c>TrainingRecipes.BagOfTricks(epochs: 30)</c>); null uses the <see cref="TrainerOptions"/> defaults.</param>
    /// <returns>The trainer; <c>Fit</c> returns an <see cref="ImageClassificationTransformer"/>.</returns>
    /// <inheritdoc cref="ImageClassificationTrainer" path="/remarks"/>
    public ImageClassificationTrainer Trainer(ArchitectureConfig config, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(_mlContext, new ImageClassificationTrainer.Options
        {
            Architecture = config,
            LabelColumnName = labelColumnName,
            FeatureColumnName = featureColumnName,
            ImageShape = imageShape,
            Training = training ?? new TrainerOptions(),
        });
    }

    /// <summary>Creates an image-classification trainer for any architecture config, with full options (the config replaces <see cref="ImageClassificationTrainer.Options.Architecture"/> in a copy).</summary>
    /// <param name="config">The network.</param>
    /// <param name="options">Everything else; the caller's object is not changed.</param>
    /// <inheritdoc cref="ImageClassificationTrainer" path="/remarks"/>
    public ImageClassificationTrainer Trainer(ArchitectureConfig config, ImageClassificationTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        var copy = options.Clone();
        copy.Architecture = config;
        return new(_mlContext, copy);
    }

    /// <summary>Trains a ResNet: depth 18 to 152 (<see cref="ResNetConfig.ForDepth"/>), the Bag of Tricks variants B, C and D (<see cref="ResNetVariant"/>) and pre-activation units (<see cref="ResNetUnit.PreActivation"/>); the family and its variants are described on <see cref="ResNetConfig"/>; a null config is <c>ResNetConfig.ResNet18</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.ResNet(ResNetConfig.ResNet50 with { Variant = ResNetVariant.D, Width = 0.5 }, featureColumnName: "ImagePath", imageShape: new ImageShape(3, 96, 96));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer ResNet(ResNetConfig? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? ResNetConfig.ResNet18, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains a ResNet: depth 18 to 152 (<see cref="ResNetConfig.ForDepth"/>), the Bag of Tricks variants B, C and D (<see cref="ResNetVariant"/>) and pre-activation units (<see cref="ResNetUnit.PreActivation"/>), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer ResNet(ResNetConfig config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains a VGG: the paper's configurations A to E (<see cref="VggConfig.ForDepth"/>), with batch norm or the A-LRN variant (<see cref="VggNormalization"/>); the family and its variants are described on <see cref="VggConfig"/>; a null config is <c>VggConfig.D</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.Vgg(VggConfig.ForDepth(16, batchNorm: true) with { Width = 0.25 }, imageShape: new ImageShape(1, 28, 28));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer Vgg(VggConfig? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? VggConfig.D, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains a VGG: the paper's configurations A to E (<see cref="VggConfig.ForDepth"/>), with batch norm or the A-LRN variant (<see cref="VggNormalization"/>), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer Vgg(VggConfig config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains GoogLeNet (Inception v1), with or without its training-only auxiliary classifiers (<see cref="GoogLeNetConfig.AuxiliaryHeads"/>); the family and its variants are described on <see cref="GoogLeNetConfig"/>; a null config is <c>GoogLeNetConfig.Default</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.GoogLeNet(GoogLeNetConfig.Default with { Width = 0.5 }, featureColumnName: "ImagePath", imageShape: new ImageShape(3, 96, 96));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer GoogLeNet(GoogLeNetConfig? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? GoogLeNetConfig.Default, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains GoogLeNet (Inception v1), with or without its training-only auxiliary classifiers (<see cref="GoogLeNetConfig.AuxiliaryHeads"/>), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer GoogLeNet(GoogLeNetConfig config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains Inception v3 at its published widths, with or without the auxiliary classifier (<see cref="InceptionV3Config.AuxiliaryHead"/>); the family and its variants are described on <see cref="InceptionV3Config"/>; a null config is <c>InceptionV3Config.Default</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.InceptionV3(InceptionV3Config.Default, featureColumnName: "ImagePath", imageShape: new ImageShape(3, 299, 299));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer InceptionV3(InceptionV3Config? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? InceptionV3Config.Default, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains Inception v3 at its published widths, with or without the auxiliary classifier (<see cref="InceptionV3Config.AuxiliaryHead"/>), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer InceptionV3(InceptionV3Config config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains MobileNet v1 with width multiplier alpha and resolution rho (<see cref="MobileNetV1Config.For"/>); the family and its variants are described on <see cref="MobileNetV1Config"/>; a null config is <c>MobileNetV1Config.Default</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.MobileNetV1(MobileNetV1Config.For(alpha: 0.5, resolution: 160), featureColumnName: "ImagePath", imageShape: new ImageShape(3, 160, 160));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer MobileNetV1(MobileNetV1Config? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? MobileNetV1Config.Default, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains MobileNet v1 with width multiplier alpha and resolution rho (<see cref="MobileNetV1Config.For"/>), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer MobileNetV1(MobileNetV1Config config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains MobileNet v2 at any width multiplier (<see cref="ArchitectureConfig.Width"/>); the family and its variants are described on <see cref="MobileNetV2Config"/>; a null config is <c>MobileNetV2Config.Default</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.MobileNetV2(MobileNetV2Config.Default with { Width = 0.75 }, featureColumnName: "ImagePath", imageShape: new ImageShape(3, 128, 128));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer MobileNetV2(MobileNetV2Config? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? MobileNetV2Config.Default, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains MobileNet v2 at any width multiplier (<see cref="ArchitectureConfig.Width"/>), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer MobileNetV2(MobileNetV2Config config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains ShuffleNet v1 with 1, 2, 3, 4 or 8 groups and the scale factor s as <see cref="ArchitectureConfig.Width"/>; the family and its variants are described on <see cref="ShuffleNetV1Config"/>; a null config is <c>ShuffleNetV1Config.G3</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.ShuffleNetV1(ShuffleNetV1Config.G8 with { Width = 0.5 }, featureColumnName: "ImagePath", imageShape: new ImageShape(3, 96, 96));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer ShuffleNetV1(ShuffleNetV1Config? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? ShuffleNetV1Config.G3, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains ShuffleNet v1 with 1, 2, 3, 4 or 8 groups and the scale factor s as <see cref="ArchitectureConfig.Width"/>, with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer ShuffleNetV1(ShuffleNetV1Config config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains ShuffleNet v2 in the sizes 0.5x to 2.0x (<see cref="ShuffleNetV2Config.X0_5"/> and siblings); the family and its variants are described on <see cref="ShuffleNetV2Config"/>; a null config is <c>ShuffleNetV2Config.X1_0</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.ShuffleNetV2(ShuffleNetV2Config.X0_5, featureColumnName: "ImagePath", imageShape: new ImageShape(3, 96, 96));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer ShuffleNetV2(ShuffleNetV2Config? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? ShuffleNetV2Config.X1_0, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains ShuffleNet v2 in the sizes 0.5x to 2.0x (<see cref="ShuffleNetV2Config.X0_5"/> and siblings), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer ShuffleNetV2(ShuffleNetV2Config config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains SqueezeNet 1.0 or 1.1; the family and its variants are described on <see cref="SqueezeNetConfig"/>; a null config is <c>SqueezeNetConfig.V1_1</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.SqueezeNet(SqueezeNetConfig.V1_1, imageShape: new ImageShape(1, 28, 28));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer SqueezeNet(SqueezeNetConfig? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? SqueezeNetConfig.V1_1, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains SqueezeNet 1.0 or 1.1, with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer SqueezeNet(SqueezeNetConfig config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains Xception (entry, middle and exit flows of depthwise separable convolutions); the family and its variants are described on <see cref="XceptionConfig"/>; a null config is <c>XceptionConfig.Default</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.Xception(XceptionConfig.Default with { Width = 0.25 }, featureColumnName: "ImagePath", imageShape: new ImageShape(3, 96, 96));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer Xception(XceptionConfig? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? XceptionConfig.Default, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains Xception (entry, middle and exit flows of depthwise separable convolutions), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer Xception(XceptionConfig config, ImageClassificationTrainer.Options options) => Trainer(config, options);

    /// <summary>Trains EfficientNet B0 to B7, or any compound coefficient phi (<see cref="EfficientNetConfig.ForPhi"/>, no registered name needed); the family and its variants are described on <see cref="EfficientNetConfig"/>; a null config is <c>EfficientNetConfig.B0</c>.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, string, string, ImageShape?, TrainerOptions?)"/>
    /// <example><code language="csharp">
    /// var trainer = mlContext.Cnn().Trainers.EfficientNet(EfficientNetConfig.ForPhi(0.5) with { Width = 0.5 }, featureColumnName: "ImagePath", imageShape: new ImageShape(3, 128, 128));
    /// using var model = trainer.Fit(data);
    /// </code></example>
    public ImageClassificationTrainer EfficientNet(EfficientNetConfig? config = null, string labelColumnName = "Label", string featureColumnName = "Features", ImageShape? imageShape = null, TrainerOptions? training = null) =>
        Trainer(config ?? EfficientNetConfig.B0, labelColumnName, featureColumnName, imageShape, training);

    /// <summary>Trains EfficientNet B0 to B7, or any compound coefficient phi (<see cref="EfficientNetConfig.ForPhi"/>, no registered name needed), with full options.</summary>
    /// <inheritdoc cref="Trainer(ArchitectureConfig, ImageClassificationTrainer.Options)"/>
    public ImageClassificationTrainer EfficientNet(EfficientNetConfig config, ImageClassificationTrainer.Options options) => Trainer(config, options);
}
