using System.Reflection;
using Microsoft.ML;

namespace MLNetCnn.Estimators;

/// <summary>
/// ML.NET keeps <c>SchemaShape.Create(DataViewSchema)</c> and the <c>SchemaShape.Column</c> constructor
/// internal, so a third-party estimator cannot describe the columns it adds without this one call
/// through reflection (Microsoft.ML is pinned centrally, and a test covers the call).
/// </summary>
internal static class SchemaShapes
{
    private static readonly MethodInfo Create = typeof(SchemaShape).GetMethod("Create", BindingFlags.NonPublic | BindingFlags.Static, new[] { typeof(DataViewSchema) })
        ?? throw new MissingMethodException("Microsoft.ML changed: SchemaShape.Create(DataViewSchema) not found.");

    public static SchemaShape FromSchema(DataViewSchema schema) => (SchemaShape)Create.Invoke(null, new object[] { schema })!;

    /// <summary><paramref name="input"/> with the columns of <paramref name="added"/> (replacing those of the same name).</summary>
    public static SchemaShape WithColumns(SchemaShape input, DataViewSchema added)
    {
        var result = input.ToDictionary(c => c.Name);
        foreach (var column in FromSchema(added))
        {
            result[column.Name] = column;
        }

        return new SchemaShape(result.Values);
    }
}
