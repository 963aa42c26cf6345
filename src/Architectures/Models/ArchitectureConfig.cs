namespace MLNetCnn.Architectures.Models;

/// <summary>
/// A family's typed configuration: everything that picks one network of the family (its stage table,
/// variant options and width). Every family publishes its rows as static members of its config record
/// (<c>ResNetConfig.ResNet50</c>, <c>EfficientNetConfig.B3</c>), and a variant is a <c>with</c> expression on
/// a row (<c>ResNetConfig.ResNet50 with { Variant = ResNetVariant.D }</c>). The registry maps names to rows;
/// a config needs no name to be built.
/// </summary>
/// <remarks>
/// <para><b>Width.</b> <see cref="Width"/> is the one channel multiplier of a network, relative to its
/// family's base table. Where a family publishes widths of its own (MobileNet's alpha, EfficientNet's
/// beta^phi, ShuffleNet v1's scale factor s) those rows set this same property, so nothing multiplies on top
/// of it: <c>MobileNetV1Config.For(alpha: 0.5) with { Width = 0.25 }</c> is MobileNet v1 at alpha 0.25.
/// ShuffleNet v2's sizes are channel tables rather than multipliers (x2.0 also widens conv5), so there Width
/// scales the row's table.</para>
/// </remarks>
public abstract record ArchitectureConfig
{
    /// <summary>Family name (as in <see cref="ModelDefinition.Family"/>), for example "ResNet".</summary>
    public abstract string Family { get; }

    /// <summary>The resolution the published network was designed for; used when <see cref="ArchitectureOptions.InputSize"/> is null.</summary>
    public virtual int NativeInputSize => 224;

    /// <summary>The smallest input the published stem accepts (without <see cref="ArchitectureOptions.SmallInputStem"/>).</summary>
    public virtual int MinInputSize => 32;

    /// <summary>
    /// The narrowest <see cref="Width"/> a network is built at: the families' narrowest layers have 16 to 32 channels at
    /// width 1, so below 1/16 they keep 1 or 2 and every layer is floored at 1 channel (a width of 1e-320 built a 12,000-parameter network).
    /// </summary>
    public const double MinWidth = 0.0625;

    /// <summary>Channel multiplier relative to the family's base table (1.0 = the published widths; see the remarks), at least <see cref="MinWidth"/>.</summary>
    public double Width { get; init; } = 1.0;

    /// <summary>
    /// The registered name of this row (for example "resnet50d", "mobilenet_v2_050"); for another width, the name of
    /// the row at width 1; for a configuration no registry row holds, the family's name in lower case.
    /// </summary>
    public string Name => ModelRegistry.NameOf(this) ?? ModelRegistry.NameOf(this with { Width = 1.0 }) ?? Family.ToLowerInvariant();

    /// <summary>Builds the network; a null input size means <see cref="NativeInputSize"/>.</summary>
    public ImageClassifier Create(ArchitectureOptions? options = null)
    {
        CheckWidth(Width, $"{Family} {nameof(Width)}");
        var o = (options ?? new ArchitectureOptions()).Validate();
        return Build(o.InputSize is null ? o with { InputSize = NativeInputSize } : o);
    }

    /// <summary>
    /// The one check of a width multiplier (<see cref="Create"/>, the trainer's and featurizer's <c>WidthMultiplier</c>, the
    /// command line's <c>--width</c>): a finite number of at least <see cref="MinWidth"/>. Large widths are bounded by memory
    /// where a network is trained (<c>ModelMemory</c> in MLNetCnn.Estimators), not here.
    /// </summary>
    /// <param name="width">The multiplier.</param>
    /// <param name="name">What it is called where it was given, for the message (<c>WidthMultiplier</c>, <c>--width</c>).</param>
    /// <exception cref="ArgumentOutOfRangeException">Below <see cref="MinWidth"/>, infinite or NaN.</exception>
    public static void CheckWidth(double width, string name)
    {
        if (!(width >= MinWidth && double.IsFinite(width)))
        {
            throw new ArgumentOutOfRangeException(name, width, FormattableString.Invariant($"{name} must be a finite number of at least {MinWidth} (1 is the published widths; below {MinWidth} the narrowest layers keep 1 or 2 channels); found {width}."));
        }
    }

    /// <summary>Builds the family's network for validated options whose input size is set.</summary>
    protected abstract ImageClassifier Build(ArchitectureOptions options);

    /// <summary>A channel count of the base table scaled by <see cref="Width"/> (at least 1).</summary>
    protected internal int Scaled(int channels) => Math.Max(1, (int)Math.Round(channels * Width));
}
