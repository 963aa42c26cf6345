using MLNetCnn.Serving;

namespace MLNetCnn.Estimators;

/// <summary>Metadata keys of the ONNX model and of saved weights files.</summary>
public static class WeightsMetadata
{
    /// <summary>Registered architecture name.</summary>
    public const string Architecture = "mlnetcnn.architecture";

    /// <summary>Class names in score order (JSON array).</summary>
    public const string ClassNames = "mlnetcnn.class_names";

    /// <summary>Input shape [C, H, W] (JSON array).</summary>
    public const string InputShape = "mlnetcnn.input_shape";

    /// <summary>Per-channel mean of the input normalization (JSON array).</summary>
    public const string Mean = "mlnetcnn.mean";

    /// <summary>Per-channel standard deviation of the input normalization (JSON array).</summary>
    public const string Std = "mlnetcnn.std";

    /// <summary>
    /// The least and greatest pixel value of the training images (JSON array of two), when they came as a pixel vector in
    /// the user's units: what <c>CnnServing().WithImageBytesInput</c> reads to make pixels in those units (0..255 or 0..1).
    /// </summary>
    public const string PixelRange = PixelUnits.MetadataKey;

    /// <summary>Width multiplier the model was built with.</summary>
    public const string WidthMultiplier = "mlnetcnn.width_multiplier";

    /// <summary>Whether the model has its family's small-input stem ("true"/"false").</summary>
    public const string SmallInputStem = "mlnetcnn.small_input_stem";
}
