using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Tricks.Augmentation;
using MLNetCnn.Tricks.Data;
using MLNetCnn.Tricks.Losses;
using MLNetCnn.Tricks.Precision;
using MLNetCnn.Tricks.Regularization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>
/// One optimizer step with every trick of <see cref="TrainerOptions"/> composed in the documented order.
/// Every random draw of the step is seeded from (seed, step), so a resumed run repeats it exactly.
/// </summary>
internal sealed class TrainingStep : IDisposable
{
    private readonly ImageClassifier _model;
    private readonly TrainerOptions _options;
    private readonly MasterWeights _masters;
    private readonly Optimization.MomentumSgd _optimizer;
    private readonly Device _device;
    private readonly List<(Tensor Live, Tensor Saved)> _buffers;
    private readonly BatchAugmenter? _augmenter;

    public TrainingStep(ImageClassifier model, TrainerOptions options, MasterWeights masters, Optimization.MomentumSgd optimizer, Device device)
    {
        _model = model;
        _options = options;
        _masters = masters;
        _optimizer = optimizer;
        _device = device;
        _augmenter = options.Augmentation is { IsIdentity: false } augmentation ? new BatchAugmenter(augmentation) : null;
        Scaler = options.Precision == TrainingPrecision.Float16 ? new DynamicLossScaler() : null;
        _buffers = model.buffers().Where(b => b.is_floating_point() || b.dtype == ScalarType.Int64).Select(b => (b, b.detach().clone())).ToList();
    }

    public DynamicLossScaler? Scaler { get; }

    /// <summary>Runs the step; returns the loss and adds the number of correct main-head predictions to <paramref name="correct"/>.</summary>
    /// <exception cref="TrainingDivergedException">The loss is NaN or infinite (weights and statistics stay those of the last good step).</exception>
    public double Run(Batch batch, int epoch, long step, double learningRate, Tensor correct)
    {
        _optimizer.LearningRate = learningRate;

        long seed = StepSeed(_options.Seed, step);
        manual_seed(seed); // dropout and drop path of this step
        var random = new Random(unchecked((int)(seed ^ (seed >> 32))));
        var s = _model.InputShape;
        int k = _model.NumClasses;
        SaveBuffers();

        using var scope = NewDisposeScope();
        var x = batch.Images(s, _device);
        if (_augmenter is not null)
        {
            x = _augmenter.Apply(x, seed ^ 0x5DEECE66DL);
        }

        var y = from_array(batch.Labels).to(_device);
        var targets = SoftTargets.FromLabels(y, k, _options.LabelSmoothing);
        var distillation = _options.Distillation;
        Tensor? teacher = batch.TeacherLogits is { } column && distillation is not null
            ? distillation.TeacherProbabilities(from_array(column).reshape(batch.Count, k).to(_device))
            : null;

        if (_options.Mixup is { } mixup && epoch <= _options.Epochs - mixup.OffForLastEpochs)
        {
            double lambda = Mixup.SampleLambda(mixup.Alpha, random);
            var permutation = Mixup.Permutation(batch.Count, random);
            var joint = teacher is null ? targets : cat(new[] { targets, teacher }, 1);
            (x, joint) = Mixup.Mix(x, joint, lambda, permutation);
            targets = joint.narrow(1, 0, k);
            teacher = teacher is null ? null : joint.narrow(1, k, k);
        }

        if (distillation?.Teacher is { } online)
        {
            teacher = distillation.TeacherProbabilities(online.Logits(x));
        }

        var input = x.to(_masters.ComputeType);
        if (_masters.Layout == TensorLayout.ChannelsLast)
        {
            input = MemoryLayout.ToChannelsLast(input);
        }

        var heads = _options.AuxiliaryLoss && _model is IAuxiliaryHeads auxiliary
            ? auxiliary.ForwardWithAuxiliary(input)
            : new[] { new WeightedLogits(_model.forward(input), 1) };
        var logits = heads[0].Logits.to(ScalarType.Float32);
        var loss = distillation is not null && teacher is not null ? distillation.Loss(logits, teacher, targets) : SoftTargets.CrossEntropy(logits, targets);
        foreach (var head in heads.Skip(1))
        {
            using var weight = head.LossWeight.ToScalar(); // Scalars are held across the native call: see Scalars
            loss = loss.add(SoftTargets.CrossEntropy(head.Logits, targets).mul(weight), Scalars.One);
        }

        double value = loss.item<float>();
        if (!double.IsFinite(value) && Scaler is null)
        {
            RestoreBuffers();
            throw new TrainingDivergedException(epoch, step, value);
        }

        _masters.ZeroGradients();
        double scale = Scaler?.Scale ?? 1;
        using (var lossScale = scale.ToScalar())
        {
            (scale == 1 ? loss : loss.mul(lossScale)).backward();
        }

        bool finite = _masters.GradientsToMasters(scale) && double.IsFinite(value);
        if (Scaler is not null && !Scaler.Update(finite))
        {
            RestoreBuffers();
            return double.NaN; // float16 overflow: step skipped, scale lowered
        }

        _optimizer.Step();
        _masters.MastersToLayers();
        correct.add_(logits.argmax(1).eq(y).sum(), Scalars.One);
        return value;
    }

    public void Dispose()
    {
        foreach (var (_, saved) in _buffers)
        {
            saved.Dispose();
        }
    }

    /// <summary>A 64-bit seed per (run seed, step), spread by the golden-ratio constant.</summary>
    internal static long StepSeed(int seed, long step) => unchecked((long)(((ulong)(uint)seed * 0x9E3779B97F4A7C15UL) + (ulong)step));

    private void SaveBuffers()
    {
        using var noGrad = no_grad();
        foreach (var (live, saved) in _buffers)
        {
            saved.copy_(live);
        }
    }

    private void RestoreBuffers()
    {
        using var noGrad = no_grad();
        foreach (var (live, saved) in _buffers)
        {
            live.copy_(saved);
        }
    }
}
