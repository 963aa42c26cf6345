using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Regularization;
using MLNetCnn.Tricks.Schedules;
using MLNetCnn.Tricks.Training;

namespace MLNetCnn.Tricks.Recipes;

/// <summary>
/// Complete training setups in one line. Each returns ordinary <see cref="TrainerOptions"/>, so any
/// setting can be changed afterwards with a <c>with</c> expression.
/// </summary>
public static class TrainingRecipes
{
    /// <summary>
    /// The Bag of Tricks baseline (section 2): SGD momentum 0.9, weight decay 1e-4 on every parameter,
    /// learning rate 0.1 x batch / 256, step decay by 10 at 25, 50 and 75 percent of the run, float32.
    /// (The paper's baseline is float32; set <c>Precision</c> to <see cref="TrainingPrecision.Auto"/> for speed.)
    /// </summary>
    public static TrainerOptions Baseline(int epochs, int batchSize = 256) => new()
    {
        Epochs = epochs,
        BatchSize = batchSize,
        LearningRate = LearningRateScaling.Linear(0.1, batchSize),
        Momentum = 0.9,
        WeightDecay = 1e-4,
        Schedule = new StepSchedule(),
        Precision = TrainingPrecision.Float32,
    };

    /// <summary>
    /// The full Bag of Tricks setup (the authors' GluonCV defaults): Nesterov SGD momentum 0.9, weight
    /// decay 1e-4 without bias decay, learning rate 0.1 x batch / 256 with linear scaling, 5 warmup epochs
    /// (capped at a quarter of short runs) then cosine decay, zero gamma, label smoothing 0.1, low-precision
    /// training where the device runs it natively (<see cref="TrainingPrecision.Auto"/>: bfloat16 on CPUs with
    /// AVX512_BF16 or AMX, float16 on CUDA, float32 elsewhere), and with <paramref name="mixup"/> mixup alpha 0.2.
    /// </summary>
    /// <param name="epochs">Passes over the data (the paper: 120, 200 with mixup).</param>
    /// <param name="batchSize">Images per step; the learning rate scales with it.</param>
    /// <param name="mixup">Add mixup (the paper trains longer with it).</param>
    /// <param name="precision">Precision; the default takes low precision only where it is native, so the recipe never slows training down.</param>
    public static TrainerOptions BagOfTricks(int epochs, int batchSize = 256, bool mixup = false, TrainingPrecision precision = TrainingPrecision.Auto) => new()
    {
        Epochs = epochs,
        BatchSize = batchSize,
        LearningRate = LearningRateScaling.Linear(0.1, batchSize),
        Momentum = 0.9,
        Nesterov = true,
        WeightDecay = 1e-4,
        NoBiasDecay = true,
        ZeroGamma = true,
        Schedule = new CosineSchedule { WarmupEpochs = Math.Min(5, epochs / 4.0) },
        LabelSmoothing = 0.1,
        Mixup = mixup ? new MixupOptions { Alpha = 0.2 } : null,
        Precision = precision,
    };
}
