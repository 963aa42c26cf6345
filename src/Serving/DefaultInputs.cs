using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace MLNetCnn.Serving;

public sealed partial class CnnServingCatalog
{
    /// <summary>
    /// <paramref name="model"/>, made to score rows that hold <paramref name="imageColumnName"/> alone: when its chain also
    /// reads other columns of <paramref name="inputSchema"/> that do not change the scores (ML.NET's usual pipeline, Model
    /// Builder's too, starts with <c>MapValueToKey("Label")</c>, so the saved model reads the label), a step in front gives
    /// each such column its type's default value. A service that posts images, or a command that scores files, could not
    /// bind such a model before ("Could not find input column 'Label'").
    /// </summary>
    /// <param name="model">A model from <see cref="LoadModel(string, out DataViewSchema)"/> or a trained one.</param>
    /// <param name="inputSchema">The schema it was trained on (what <c>LoadModel</c> returns).</param>
    /// <param name="imageColumnName">The column the caller gives it: image paths, encoded bytes or pixels.</param>
    /// <remarks>
    /// For rows that lack those columns, as a service's or a command's do: data that has them (a real label, to evaluate)
    /// goes to <paramref name="model"/> itself, since the step replaces them. The steps are not saved with the model
    /// (<c>Model.Save</c> refuses the chain): wrap the loaded model again after loading.
    /// </remarks>
    /// <returns><paramref name="model"/> itself when it scores the image column alone.</returns>
    /// <exception cref="ArgumentException">The model does not score <paramref name="imageColumnName"/> even with every other scalar column of <paramref name="inputSchema"/> beside it; the message names the columns.</exception>
    public ITransformer WithDefaultInputs(ITransformer model, DataViewSchema inputSchema, string imageColumnName)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (inputSchema.GetColumnOrNull(imageColumnName) is not { IsHidden: false } image)
        {
            throw new ArgumentException($"The model's input schema has no column '{imageColumnName}'; its columns: {DefaultInputs.Describe(inputSchema)}.", nameof(imageColumnName));
        }

        if (DefaultInputs.Scores(model, [image]))
        {
            return model;
        }

        var others = DefaultInputs.Others(inputSchema, image);
        if (others.Count == 0 || !DefaultInputs.Scores(model, [image, .. others]))
        {
            throw new ArgumentException($"The model does not score '{imageColumnName}' ({image.Type}) with {(others.Count == 0 ? "no other column" : $"default values for {string.Join(", ", others.Select(c => $"'{c.Name}'"))}")} beside it; its input columns: {DefaultInputs.Describe(inputSchema)}.", nameof(model));
        }

        var needed = others.Where(c => !DefaultInputs.Scores(model, [image, .. others.Where(o => o.Index != c.Index)])).ToList();
        var steps = (needed.Count > 0 ? needed : others).Select(c => DefaultInputs.Step(_mlContext, c)).Append(model);
        var chain = new TransformerChain<ITransformer>(steps.ToArray());
        if (!DefaultInputs.Scores(chain, [image]))
        {
            throw new ArgumentException($"The model does not score '{imageColumnName}' ({image.Type}) even with default values for {string.Join(", ", others.Select(c => $"'{c.Name}'"))} beside it (a step of its chain reads more of them than their types: a key column's values, say); its input columns: {DefaultInputs.Describe(inputSchema)}.", nameof(model));
        }

        return chain;
    }
}

/// <summary>The steps <see cref="CnnServingCatalog.WithDefaultInputs"/> builds: one column of its type's default value each.</summary>
internal static class DefaultInputs
{
    /// <summary>
    /// The visible columns of <paramref name="schema"/> beside <paramref name="image"/> that a default value can stand for:
    /// scalars only, since a vector beside the image is data (a second image, features).
    /// </summary>
    public static List<DataViewSchema.Column> Others(DataViewSchema schema, DataViewSchema.Column image) =>
        schema.Where(c => !c.IsHidden && c.Index != image.Index && c.Type is not VectorDataViewType and not ImageDataViewType).ToList();

    /// <summary>Whether <paramref name="model"/> scores rows holding <paramref name="columns"/> alone (a disposed model throws).</summary>
    public static bool Scores(ITransformer model, IEnumerable<DataViewSchema.Column> columns)
    {
        var builder = new DataViewSchema.Builder();
        foreach (var c in columns)
        {
            builder.AddColumn(c.Name, c.Type, c.Annotations);
        }

        try
        {
            model.GetOutputSchema(builder.ToSchema());
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException and not ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>The visible columns of <paramref name="schema"/> as the errors list them: <c>'Name' (Type)</c>.</summary>
    public static string Describe(DataViewSchema schema) => string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}' ({c.Type})"));

    /// <summary>A step that adds <paramref name="column"/> (its name and type) holding the type's default value in every row.</summary>
    public static ITransformer Step(MLContext mlContext, DataViewSchema.Column column)
    {
        var make = typeof(DefaultInputs).GetMethod(nameof(Constant), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(column.Type.RawType);
        return (ITransformer)make.Invoke(null, BindingFlags.DoNotWrapExceptions, null, [mlContext, column], null)!;
    }

    private static ITransformer Constant<T>(MLContext mlContext, DataViewSchema.Column column)
    {
        var output = SchemaDefinition.Create(typeof(ValueRow<T>));
        output[0].ColumnName = column.Name;
        output[0].ColumnType = column.Type;
        var empty = mlContext.Data.LoadFromEnumerable(Array.Empty<NoColumns>());
        return mlContext.Transforms.CustomMapping<NoColumns, ValueRow<T>>(static (_, _) => { }, contractName: null, outputSchemaDefinition: output).Fit(empty);
    }

    private sealed class NoColumns;

    private sealed class ValueRow<T>
    {
        public T Value { get; set; } = default!;
    }
}
