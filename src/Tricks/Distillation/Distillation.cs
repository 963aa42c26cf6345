using MLNetCnn.Architectures.Models;
using MLNetCnn.Architectures.Runtime;
using MLNetCnn.Tricks.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Distillation;

/// <summary>A teacher network for knowledge distillation: logits (or log-probabilities) for a batch of images.</summary>
public interface ITeacher
{
    /// <summary>
    /// Teacher logits [N, K] in float32 for images [N, C, H, W] in raw pixel units, on the images' device,
    /// without gradient. Log-probabilities are fine too: softmax ignores a per-row constant.
    /// </summary>
    Tensor Logits(Tensor images);
}

/// <summary>A model of this library (for example one trained earlier) used as a teacher, in eval mode.</summary>
public sealed class ModelTeacher : ITeacher
{
    private readonly ImageClassifier _model;

    /// <summary>Wraps <paramref name="model"/>; it is switched to eval mode and never trained.</summary>
    public ModelTeacher(ImageClassifier model)
    {
        _model = model;
        _model.eval();
        foreach (var p in _model.parameters())
        {
            p.requires_grad = false;
        }
    }

    /// <inheritdoc/>
    public Tensor Logits(Tensor images)
    {
        using var noGrad = no_grad();
        _model.to(images.device);
        return _model.forward(images.to(ScalarType.Float32));
    }
}

/// <summary>
/// Knowledge distillation (Hinton et al.; Bag of Tricks section 5.3). The loss is
/// <c>HardLabelWeight * CE(targets, student) + (1 - HardLabelWeight) * T^2 * KL(softmax(teacher / T) || softmax(student / T))</c>,
/// the T squared keeping the soft term's gradient scale independent of T. The KL divergence is the paper's cross entropy
/// less the teacher's entropy, which does not depend on the student: the gradient is the paper's, and the soft term
/// reads 0 for a student that matches its teacher. With the cross entropy, a teacher's entropy at T = 20 (about ln K)
/// times T^2 put hundreds into every reported training loss (about 460 for 10 classes), hiding how the student learned.
/// </summary>
public sealed record DistillationOptions
{
    /// <summary>
    /// The teacher. Leave null when the training data carries teacher scores instead
    /// (the estimator's <c>SoftTargetColumnName</c>).
    /// </summary>
    public ITeacher? Teacher { get; init; }

    /// <summary>Softmax temperature T (Bag of Tricks: 20).</summary>
    public double Temperature { get; init; } = 20;

    /// <summary>Weight of the hard-label term (Bag of Tricks: 0.5); the soft term gets the rest.</summary>
    public double HardLabelWeight { get; init; } = 0.5;

    /// <summary>Throws when a value is out of range.</summary>
    public DistillationOptions Validate()
    {
        if (!(Temperature > 0) || !double.IsFinite(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Distillation temperature must be positive and finite.");
        }

        if (HardLabelWeight is < 0 or > 1 || double.IsNaN(HardLabelWeight))
        {
            throw new ArgumentOutOfRangeException(nameof(HardLabelWeight), HardLabelWeight, "HardLabelWeight must be in [0, 1].");
        }

        return this;
    }

    /// <summary>The teacher's soft targets: <c>softmax(teacherLogits / T)</c>, float32.</summary>
    public Tensor TeacherProbabilities(Tensor teacherLogits)
    {
        using var scope = NewDisposeScope();
        using var temperature = Temperature.ToScalar(); // Scalars are held across the native calls: see Scalars
        return nn.functional.softmax(teacherLogits.to(ScalarType.Float32).div(temperature), 1).MoveToOuterDisposeScope();
    }

    /// <summary>The distillation loss for one batch.</summary>
    /// <param name="studentLogits">[N, K].</param>
    /// <param name="teacherProbabilities">[N, K], from <see cref="TeacherProbabilities"/> (possibly mixed by mixup).</param>
    /// <param name="targets">Hard-label targets [N, K] (one-hot, smoothed or mixed).</param>
    public Tensor Loss(Tensor studentLogits, Tensor teacherProbabilities, Tensor targets)
    {
        using var scope = NewDisposeScope();
        using var t = Temperature.ToScalar(); // Scalars are held across the native calls: see Scalars
        using var tSquared = (Temperature * Temperature).ToScalar();
        using var hardWeight = HardLabelWeight.ToScalar();
        using var softWeight = (1 - HardLabelWeight).ToScalar();
        using var tiny = 1e-30.ToScalar();
        var teacherEntropy = teacherProbabilities.mul(teacherProbabilities.clamp_min(tiny).log()).sum(1).mean().neg(); // 0 * log 0 taken as 0
        var soft = SoftTargets.CrossEntropy(studentLogits.to(ScalarType.Float32).div(t), teacherProbabilities).sub(teacherEntropy).mul(tSquared);
        var hard = SoftTargets.CrossEntropy(studentLogits, targets);
        return hard.mul(hardWeight).add(soft.mul(softWeight), Scalars.One).MoveToOuterDisposeScope();
    }
}
