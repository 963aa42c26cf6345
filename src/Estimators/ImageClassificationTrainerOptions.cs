using Microsoft.ML;
using MLNetCnn.Architectures.Families;
using MLNetCnn.Architectures.Models;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Training;
using MLNetCnn.Serving;

namespace MLNetCnn.Estimators;

public sealed partial class ImageClassificationTrainer
{
    /// <summary>Default values of <see cref="Options"/> (those of <see cref="TrainerOptions"/> for the procedure).</summary>
    public static class Defaults
    {
        /// <summary>Architecture name.</summary>
        public const string Arch = "resnet18";

        /// <summary>Epochs.</summary>
        public const int Epoch = 10;

        /// <summary>Batch size.</summary>
        public const int BatchSize = 64;

        /// <summary>Peak learning rate.</summary>
        public const double LearningRate = 0.05;
    }

    /// <summary>
    /// Everything the trainer can be told: the columns, the architecture, the image shape, and the training
    /// procedure as one <see cref="TrainerOptions"/> (<see cref="Training"/>), which recipes return and
    /// <c>with</c> expressions change; the other members are what only the ML.NET face needs (validation data,
    /// callbacks, GPU scoring). <see cref="Epoch"/>, <see cref="BatchSize"/>, <see cref="LearningRate"/>,
    /// <see cref="LearningRateScheduler"/>, <see cref="EarlyStoppingCriteria"/> and <see cref="ValidationSetFraction"/>
    /// keep ML.NET's image-trainer names and, with <see cref="Data"/>, read and write <see cref="Training"/>. The trainer copies the
    /// options; changing them later has no effect on it.
    /// </summary>
    public sealed class Options
    {
        /// <summary>Key-typed label column.</summary>
        public string LabelColumnName { get; set; } = "Label";

        /// <summary>
        /// The image column: a known-size vector of Single (C x H x W pixel values, channels first), an
        /// <c>MLImage</c> (<c>LoadImages</c>), a vector of Byte (<c>LoadRawImageBytes</c>) or text (image
        /// file paths). Images are resized to <see cref="ImageShape"/> and converted to its channels inside
        /// the pipeline, and the saved model takes the same kind of column. When the default "Features" is
        /// missing and the data has an <c>ImagePath</c> text column (an <c>ImageFolder</c>), that column is used.
        /// </summary>
        public string FeatureColumnName { get; set; } = "Features";

        /// <summary>
        /// A column of soft targets, one value per class: probabilities or logits from any transformer earlier in the
        /// pipeline (a trained teacher's <c>Score</c>, <c>ApplyOnnxModel</c> over any ONNX classifier). They are the
        /// distillation targets (<see cref="TrainerOptions.Distillation"/>; its defaults apply when it is null).
        /// </summary>
        public string? SoftTargetColumnName { get; set; }

        /// <summary>
        /// The network: a family's typed config row (<c>ResNetConfig.ResNet50 with { Variant = ResNetVariant.D }</c>,
        /// <c>EfficientNetConfig.ForPhi(2.5)</c>); the catalog's <c>Trainers.ResNet(...)</c> and siblings set it.
        /// </summary>
        public ArchitectureConfig Architecture { get; set; } = ResNetConfig.ResNet18;

        /// <summary>
        /// The registered name of <see cref="Architecture"/> (a shortcut: setting it takes that registry row;
        /// see <c>ModelRegistry.Names</c>).
        /// </summary>
        /// <exception cref="ArgumentException">The name is null or empty; the message lists the registered names.</exception>
        /// <exception cref="KeyNotFoundException">No architecture has that name; the message suggests the nearest.</exception>
        public string Arch
        {
            get => Architecture.Name;
            set
            {
                if (string.IsNullOrWhiteSpace(value))
                {
                    throw new ArgumentException($"Options.Arch is {(value is null ? "null" : "empty")}; set it to a registered architecture: {string.Join(", ", ModelRegistry.Names)}.", nameof(Arch));
                }

                Architecture = ModelRegistry.Get(value).Config;
            }
        }

        /// <summary>
        /// Channel width multiplier; when set it replaces the architecture's own width (<see cref="ArchitectureConfig.Width"/>,
        /// MobileNet's alpha included) and never multiplies it. Null keeps the architecture's width.
        /// </summary>
        public double? WidthMultiplier { get; set; }

        /// <summary>Shape of one image; null infers a square grey or RGB image from a pixel vector's size, and means RGB at the architecture's native input size (<see cref="DefaultImageShape"/>, 224, for most) for image, byte and path columns.</summary>
        public ImageShape? ImageShape { get; set; }

        /// <summary>Use the architecture's small-input stem; null chooses it for images under 64 pixels.</summary>
        public bool? SmallInputStem { get; set; }

        /// <summary>The training procedure: one immutable <see cref="TrainerOptions"/>, for example <c>TrainingRecipes.BagOfTricks(epochs: 30)</c> or <c>Training with { Mixup = new() }</c>.</summary>
        public TrainerOptions Training { get; set; } = new();

        /// <summary>Passes over the training data (<see cref="TrainerOptions.Epochs"/> of <see cref="Training"/>).</summary>
        public int Epoch
        {
            get => Training.Epochs;
            set => Training = Training with { Epochs = value };
        }

        /// <summary>
        /// Train for about this long, the data reading included (<see cref="TrainerOptions.TimeLimit"/> of
        /// <see cref="Training"/>): <see cref="Epoch"/> becomes the most epochs, and the learning-rate schedule spans
        /// the epochs that fit; null (the default) trains every epoch.
        /// </summary>
        public TimeSpan? TimeLimit
        {
            get => Training.TimeLimit;
            set => Training = Training with { TimeLimit = value };
        }

        /// <summary>Images per step (<see cref="TrainerOptions.BatchSize"/> of <see cref="Training"/>).</summary>
        public int BatchSize
        {
            get => Training.BatchSize;
            set => Training = Training with { BatchSize = value };
        }

        /// <summary>Peak learning rate (<see cref="TrainerOptions.LearningRate"/> of <see cref="Training"/>).</summary>
        public double LearningRate
        {
            get => Training.LearningRate;
            set => Training = Training with { LearningRate = value };
        }

        /// <summary>Learning rate as a function of the step (<see cref="TrainerOptions.Schedule"/> of <see cref="Training"/>; cosine by default).</summary>
        public LearningRateSchedule LearningRateScheduler
        {
            get => Training.Schedule;
            set => Training = Training with { Schedule = value };
        }

        /// <summary>
        /// How the training images are held: decoded once into memory (uint8 where the pixels are 0..255 integers)
        /// when they fit <see cref="DataOptions.MemoryBudgetBytes"/>, streamed otherwise, and what an image that stops
        /// decoding mid-training does (skipped and counted, or <see cref="DataOptions.Strict"/>; one that never decoded
        /// is always an error naming it); <see cref="TrainerOptions.Data"/> of <see cref="Training"/>. The choice never
        /// changes the trained weights.
        /// </summary>
        public DataOptions Data
        {
            get => Training.Data;
            set => Training = Training with { Data = value };
        }

        /// <summary>Early stopping on the validation metric, ending with the best epoch's weights (<see cref="TrainerOptions.EarlyStoppingCriteria"/> of <see cref="Training"/>).</summary>
        public EarlyStopping? EarlyStoppingCriteria
        {
            get => Training.EarlyStoppingCriteria;
            set => Training = Training with { EarlyStoppingCriteria = value };
        }

        /// <summary>
        /// Without a <see cref="ValidationSet"/>: the share of the training images held out for validation, per class
        /// (<see cref="TrainerOptions.ValidationFraction"/> of <see cref="Training"/>).
        /// </summary>
        public double ValidationSetFraction
        {
            get => Training.ValidationFraction;
            set => Training = Training with { ValidationFraction = value };
        }

        /// <summary>Data evaluated after every epoch (same columns as the training data); it takes precedence over <see cref="ValidationSetFraction"/>.</summary>
        public IDataView? ValidationSet { get; set; }

        /// <summary>Called after every epoch.</summary>
        public Action<EpochMetrics>? MetricsCallback { get; set; }

        /// <summary>Called after every optimizer step with the epoch's progress (images seen, loss, images/s, time left), e.g. for a progress bar.</summary>
        public Action<TrainingProgress>? ProgressCallback { get; set; }

        /// <summary>
        /// Called while <c>Fit</c> reads the images before training starts (the training data, then the
        /// <see cref="ValidationSet"/>): images decoded into memory, or written to the temporary file every epoch reads, at most
        /// every 100 ms and once when the last image is read. Photos can take minutes here, before the first
        /// <see cref="ProgressCallback"/>. A path column streamed from its files (<see cref="DataOptions.Mode"/>) has no such
        /// read: its epochs decode it.
        /// </summary>
        public Action<DataReadProgress>? ReadProgressCallback { get; set; }

        /// <summary>
        /// Stops training before the next step once cancelled (Ctrl+C in a console app, a request's
        /// abort in a web app); <c>Fit</c> then throws <see cref="OperationCanceledException"/> naming the
        /// epoch and step. (ML.NET 5 has no public cancellation on <c>MLContext</c>.)
        /// </summary>
        public CancellationToken CancellationToken { get; set; }

        /// <summary>
        /// Weights to start from: a torchvision checkpoint (.pth, or .safetensors) of the same architecture,
        /// or a file written by <see cref="ImageClassificationTransformer.SaveWeights"/> (continued
        /// training; its input normalization is reused unless <see cref="Mean"/>/<see cref="Std"/> are set).
        /// Tensors of another shape, such as the classifier when the class count differs, start fresh;
        /// RGB stem weights are summed for grey images. Null: random initialization. To train the new head
        /// first, set <see cref="TrainerOptions.FreezeEpochs"/> in <see cref="Training"/>.
        /// </summary>
        public string? InitialWeights { get; set; }

        /// <summary>Per-channel mean in input units; null computes it from the training data.</summary>
        public float[]? Mean { get; set; }

        /// <summary>Per-channel standard deviation in input units; null computes it from the training data.</summary>
        public float[]? Std { get; set; }

        /// <summary>
        /// Score each image as the mean of the class probabilities of the image and its mirror image (test-time
        /// augmentation, as the ResNet and Inception papers evaluate with crops and flips). It costs twice the scoring time and
        /// suits classes that look alike mirrored (clothes, animals; not text). The saved model and its ONNX graph
        /// keep it; the validation after every epoch scores the images as they are.
        /// </summary>
        public bool TestTimeFlip { get; set; }

        /// <summary>GPU for ONNX Runtime scoring (its CUDA provider); null takes <c>MLContext.GpuDeviceId</c> (null there too: the CPU).</summary>
        public int? GpuDeviceId { get; set; }

        /// <summary>Fall back to the CPU when the GPU provider cannot be used for scoring; null takes <c>MLContext.FallbackToCpu</c>.</summary>
        public bool? FallbackToCpu { get; set; }

        /// <summary>The architecture with <see cref="WidthMultiplier"/> applied.</summary>
        internal ArchitectureConfig ResolvedArchitecture => WidthMultiplier is { } width ? Architecture with { Width = width } : Architecture;

        internal Options Clone()
        {
            var copy = (Options)MemberwiseClone();
            copy.Mean = Mean?.ToArray();
            copy.Std = Std?.ToArray();
            return copy;
        }
    }
}
