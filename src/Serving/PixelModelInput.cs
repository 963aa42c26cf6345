using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Serving;

public sealed partial class CnnServingCatalog
{
    /// <summary>The column <see cref="WithImageBytesInput"/> reads by default, as the serving sample posts it.</summary>
    public const string ImageBytesColumnName = "ImageBytes";

    /// <summary>
    /// Puts in front of <paramref name="model"/>, a model trained on a pixel vector (C x N x N values, channels first,
    /// C 1 or 3: what <c>FashionMnist.Load</c>, IDX files and <c>mlnetcnn train --data fashion-mnist</c> give), the steps
    /// that make that vector from an encoded image (PNG, JPEG, ...) in a byte-vector column: decoded within
    /// <see cref="ImageDecodeLimit"/>, resized to N x N (stretched, as the trainer resizes image columns), made grey when
    /// C is 1, and extracted in the units the model was trained on: 0..255, as the sources above give them, or 0..1. The
    /// result scores encoded images, so a service that takes uploads can serve such a model; before, the serving sample
    /// refused the README's Fashion-MNIST models.
    /// </summary>
    /// <remarks>
    /// The trainer records the least and greatest training pixel value in the model, and the units are read from it:
    /// values within 0..1 (<c>ExtractPixels(scaleImage: 1f / 255)</c>, or a CSV of pre-scaled pixels) are served as 0..1,
    /// values within 0..255 as 0..255. A model saved by an earlier version records nothing and is given 0..255. Other
    /// columns the model's chain reads (a <c>Label</c> for its <c>MapValueToKey</c>) get default values (<see cref="WithDefaultInputs"/>).
    /// </remarks>
    /// <param name="model">A model from <see cref="LoadModel(string, out DataViewSchema)"/> or a trained one.</param>
    /// <param name="inputSchema">The schema it was trained on (what <c>LoadModel</c> returns).</param>
    /// <param name="imageBytesColumnName">The byte-vector column of encoded images the result reads.</param>
    /// <exception cref="ArgumentException"><paramref name="inputSchema"/> has no grey or RGB square pixel vector (the message lists its columns), the model was trained on pixel values neither in 0..255 nor in 0..1 (the message names the range), or its chain reads another column no default value stands for (<see cref="WithDefaultInputs"/>).</exception>
    public ITransformer WithImageBytesInput(ITransformer model, DataViewSchema inputSchema, string imageBytesColumnName = ImageBytesColumnName)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputSchema);
        ArgumentException.ThrowIfNullOrEmpty(imageBytesColumnName);
        var (column, channels, size) = PixelColumn(inputSchema) ?? throw new ArgumentException(
            $"The model takes no square grey or RGB pixel vector (Vector<Single, C*N*N> with C 1 or 3) to build from encoded images; its input columns: {DefaultInputs.Describe(inputSchema)}.",
            nameof(inputSchema));

        var definition = SchemaDefinition.Create(typeof(ImageBytesRow));
        definition[0].ColumnName = imageBytesColumnName;
        var empty = _mlContext.Data.LoadFromEnumerable(Array.Empty<ImageBytesRow>(), definition);
        float scale = PixelUnits.Scale(_mlContext, model, inputSchema, column);
        var scoring = WithDefaultInputs(model, inputSchema, column);
        var conversion = ImageInput.Conversion(_mlContext, empty, imageBytesColumnName, ImageColumnKind.Bytes, channels, size, size, scale);
        var converted = conversion.Transform(empty);
        var named = _mlContext.Transforms.CopyColumns(column, ImageInput.PixelColumnName).Fit(converted);
        var dropped = _mlContext.Transforms.DropColumns(ImageInput.PixelColumnName).Fit(named.Transform(converted));
        return new TransformerChain<ITransformer>(conversion, named, dropped, scoring);
    }

    /// <summary>The first visible column that holds a square grey or RGB image as C x N x N Singles.</summary>
    private static (string Column, int Channels, int Size)? PixelColumn(DataViewSchema schema)
    {
        foreach (var column in schema.Where(c => !c.IsHidden))
        {
            if (column.Type is not VectorDataViewType { ItemType: var item, Size: > 0 and var length } || item != NumberDataViewType.Single)
            {
                continue;
            }

            foreach (int channels in new[] { 1, 3 })
            {
                int side = (int)Math.Round(Math.Sqrt(length / (double)channels));
                if (channels * side * side == length)
                {
                    return (column.Name, channels, side);
                }
            }
        }

        return null;
    }
}
