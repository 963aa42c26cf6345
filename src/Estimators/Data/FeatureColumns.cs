using MLNetCnn.Serving;

namespace MLNetCnn.Estimators.Data;

/// <summary>Finds the image column a trainer reads, with a hint when it is missing.</summary>
internal static class FeatureColumns
{
    /// <summary>The default feature column name (ML.NET's literal).</summary>
    public const string Default = "Features";

    /// <summary>
    /// <paramref name="requested"/> when the data has it; the <c>ImagePath</c> text column of an image folder when
    /// the default "Features" is missing; otherwise an error that lists the columns and points at an image column.
    /// </summary>
    /// <param name="requested">The configured feature column name.</param>
    /// <param name="columns">Every column: name, item type, and whether it is a scalar.</param>
    public static string Resolve(string requested, IEnumerable<(string Name, Microsoft.ML.Data.DataViewType ItemType, bool IsScalar)> columns)
    {
        var all = columns.ToList();
        if (all.Any(c => c.Name == requested))
        {
            return requested;
        }

        bool pathColumn = all.Any(c => c.Name == ImageFolder.ImagePathColumnName && c.IsScalar && c.ItemType is Microsoft.ML.Data.TextDataViewType);
        if (requested == Default && pathColumn)
        {
            return ImageFolder.ImagePathColumnName;
        }

        string hint = pathColumn
            ? $" The data has image paths in '{ImageFolder.ImagePathColumnName}': pass featureColumnName: \"{ImageFolder.ImagePathColumnName}\"."
            : " Name the column that holds the images (pixels, MLImage, bytes or file paths) with featureColumnName.";
        throw new ArgumentOutOfRangeException(nameof(requested), $"Feature column '{requested}' not found. Columns: {string.Join(", ", all.Select(c => c.Name))}.{hint}");
    }
}
