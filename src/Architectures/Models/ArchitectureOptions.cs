namespace MLNetCnn.Architectures.Models;

/// <summary>
/// What every architecture accepts besides its family's <see cref="ArchitectureConfig"/>: the task (class
/// count, input channels and size) and the small-input stem. The width belongs to the config.
/// </summary>
public sealed record ArchitectureOptions
{
    /// <summary>Number of output classes (1000 for the ImageNet layouts).</summary>
    public int NumClasses { get; init; } = 1000;

    /// <summary>Input channels: 3 for RGB, 1 for grey images.</summary>
    public int InputChannels { get; init; } = 3;

    /// <summary>Input height and width; null means the architecture's native resolution.</summary>
    public int? InputSize { get; init; }

    /// <summary>
    /// Replace the published stem by one that keeps small images (28x28, 32x32) large enough for all stages.
    /// What it means is documented on each family class (ResNet: a 3x3 stride-1 conv and no max pool;
    /// most others: a stride-1 stem and no stem max pool; VGG: no last max pool).
    /// </summary>
    public bool SmallInputStem { get; init; }

    /// <summary>Validates the options and returns the input shape, using <paramref name="nativeSize"/> when <see cref="InputSize"/> is null.</summary>
    public ImageShape InputShape(int nativeSize)
    {
        Validate();
        int size = InputSize ?? nativeSize;
        return new ImageShape(InputChannels, size, size);
    }

    /// <summary>Throws when a value is out of range.</summary>
    public ArchitectureOptions Validate()
    {
        if (NumClasses < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(NumClasses), NumClasses, "A classifier needs at least 2 classes.");
        }

        if (InputChannels < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(InputChannels), InputChannels, "Input channels must be at least 1.");
        }

        if (InputSize is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(InputSize), InputSize, "Input size must be positive.");
        }

        return this;
    }
}
