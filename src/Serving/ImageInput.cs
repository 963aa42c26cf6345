using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace MLNetCnn.Serving;

/// <summary>What the trainer's image column holds.</summary>
internal enum ImageColumnKind
{
    /// <summary>A known-size vector of Single: C x H x W pixel values.</summary>
    Pixels,

    /// <summary>An <see cref="MLImage"/> (from <c>LoadImages</c>).</summary>
    Image,

    /// <summary>Text: the path of an image file.</summary>
    Path,

    /// <summary>A vector of Byte: an encoded image file (from <c>LoadRawImageBytes</c>).</summary>
    Bytes,
}

/// <summary>
/// The steps in front of the network for image columns: decode (paths and bytes), resize to the
/// model's H x W (stretching, ML.NET's <c>ResizeImages</c> "Fill"), convert to grey for one-channel
/// models, and extract the pixels channels-first in 0..255. They are ML.NET's own transforms plus two
/// stateless decoders, so the same steps run in training and in the saved model, which therefore
/// scores the same kind of column it was trained on.
/// </summary>
internal static class ImageInput
{
    /// <summary>The pixel column the conversion adds (the ONNX model's input name for image-column models).</summary>
    public const string PixelColumnName = "mlnetcnn_pixels";

    private const string ResizedColumnName = "mlnetcnn_image_resized";
    private const string GreyColumnName = "mlnetcnn_image_grey";

    public static ImageColumnKind Classify(DataViewType type) => type switch
    {
        ImageDataViewType => ImageColumnKind.Image,
        TextDataViewType => ImageColumnKind.Path,
        VectorDataViewType { ItemType: var item } when item == NumberDataViewType.Byte => ImageColumnKind.Bytes,
        _ => ImageColumnKind.Pixels,
    };

    /// <summary>
    /// Fits the conversion of <paramref name="column"/> on <paramref name="input"/>. The steps are fitted one after
    /// the other rather than as an <c>EstimatorChain</c>: the chain's schema check compares image types by reference,
    /// which an MLImage column of unknown size (from <c>LoadImages</c>) never passes. Pixels come out in 0..255 times
    /// <paramref name="scale"/>.
    /// </summary>
    public static ITransformer Conversion(MLContext mlContext, IDataView input, string column, ImageColumnKind kind, int channels, int height, int width, float scale = 1f)
    {
        if (channels is not (1 or 3))
        {
            throw new ArgumentException($"Image column '{column}': the model's image shape {channels}x{height}x{width} must have 1 (grey) or 3 (RGB) channels.");
        }

        var steps = new List<IEstimator<ITransformer>>();
        var dropped = new List<string> { ResizedColumnName };
        string image = column;
        if (kind is ImageColumnKind.Path or ImageColumnKind.Bytes or ImageColumnKind.Image)
        {
            // Every image passes ImageDecodeLimit before it is resized: paths and bytes are checked from the header
            // before decoding, an MLImage (decoded upstream by LoadImages) before the resize.
            steps.Add(mlContext.Transforms.CopyColumns(ImageDecoding.SourceColumnName, column));
            if (kind == ImageColumnKind.Image)
            {
                ImageSizeCheck.RegisterImageType();
            }

            steps.Add(kind switch
            {
                ImageColumnKind.Path => mlContext.Transforms.CustomMapping<ImagePathRow, DecodedImageRow>(ImageFileDecoder.Map, ImageFileDecoder.ContractName),
                ImageColumnKind.Bytes => mlContext.Transforms.CustomMapping<ImageBytesRow, DecodedImageRow>(ImageBytesDecoder.Map, ImageBytesDecoder.ContractName),
                _ => mlContext.Transforms.CustomMapping<LoadedImageRow, DecodedImageRow>(ImageSizeCheck.Map, ImageSizeCheck.ContractName),
            });
            image = ImageDecoding.DecodedColumnName;
            dropped.Add(ImageDecoding.SourceColumnName);
            dropped.Add(ImageDecoding.DecodedColumnName);
        }

        steps.Add(mlContext.Transforms.ResizeImages(ResizedColumnName, width, height, image, ImageResizingEstimator.ResizingKind.Fill));
        string last = ResizedColumnName;
        if (channels == 1)
        {
            steps.Add(mlContext.Transforms.ConvertToGrayscale(GreyColumnName, ResizedColumnName));
            last = GreyColumnName;
            dropped.Add(GreyColumnName);
        }

        var colours = channels == 1 ? ImagePixelExtractingEstimator.ColorBits.Red : ImagePixelExtractingEstimator.ColorBits.Rgb;
        steps.Add(mlContext.Transforms.ExtractPixels(PixelColumnName, last, colours, ImagePixelExtractingEstimator.ColorsOrder.ARGB, interleavePixelColors: false, scaleImage: scale, offsetImage: 0f, outputAsFloatArray: true));
        steps.Add(mlContext.Transforms.DropColumns(dropped.ToArray()));

        var fitted = new List<ITransformer>();
        var current = input;
        foreach (var step in steps)
        {
            var transformer = step.Fit(current);
            fitted.Add(transformer);
            current = transformer.Transform(current);
        }

        return new TransformerChain<ITransformer>(fitted.ToArray());
    }
}
