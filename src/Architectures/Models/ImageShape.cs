namespace MLNetCnn.Architectures.Models;

/// <summary>Shape of one input image, channels first.</summary>
/// <param name="Channels">Colour channels (1 for grey, 3 for RGB).</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Width">Width in pixels.</param>
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    /// <summary>Number of values in one image (C x H x W).</summary>
    public int Size => Channels * Height * Width;

    /// <summary>Throws when any dimension is not positive.</summary>
    public ImageShape Validate(string what)
    {
        if (Channels <= 0 || Height <= 0 || Width <= 0)
        {
            throw new ArgumentException($"{what}: image shape must have positive channels, height and width; found {this}.");
        }

        return this;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}
