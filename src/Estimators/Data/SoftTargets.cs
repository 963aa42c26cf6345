using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetCnn.Estimators.Data;

/// <summary>
/// Reads a soft-target column: per-row scores of any transformer (the <c>Score</c> column of a trained
/// <see cref="ImageClassificationTransformer"/>, <c>ApplyOnnxModel</c> over any ONNX classifier) as
/// distillation logits. Probabilities (non-negative rows summing to 1) become their logarithm, which softmax
/// at any temperature treats exactly like logits; other values are taken as logits.
/// </summary>
internal static class SoftTargets
{
    public static float[] ReadLogits(IDataView data, string columnName, int numClasses, int expectedRows)
    {
        var column = data.Schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentOutOfRangeException(nameof(columnName), $"Soft-target column '{columnName}' not found.");
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType t } || t != NumberDataViewType.Single)
        {
            throw new ArgumentException($"Soft-target column '{columnName}' must be a vector of Single with {numClasses} values; found {column.Type}.");
        }

        var logits = new float[(long)expectedRows * numClasses];
        int row = 0;
        using (var cursor = data.GetRowCursor(new[] { column }))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> buffer = default;
            while (cursor.MoveNext())
            {
                getter(ref buffer);
                if (buffer.Length != numClasses)
                {
                    throw new TrainingDataException($"Soft-target column '{columnName}', row {row}: found {buffer.Length} values; the labels have {numClasses} classes.");
                }

                if (row >= expectedRows)
                {
                    throw new TrainingDataException($"Soft-target column '{columnName}' has more rows than the {expectedRows} training images.");
                }

                var values = logits.AsSpan(row * numClasses, numClasses);
                buffer.CopyTo(values);
                bool probabilities = true;
                float sum = 0;
                foreach (float v in values)
                {
                    if (!float.IsFinite(v))
                    {
                        throw new TrainingDataException($"Soft-target column '{columnName}', row {row}: non-finite score {v}.");
                    }

                    probabilities &= v >= 0;
                    sum += v;
                }

                if (probabilities && Math.Abs(sum - 1) < 1e-3)
                {
                    for (int k = 0; k < values.Length; k++)
                    {
                        values[k] = MathF.Log(Math.Max(values[k], 1e-12f));
                    }
                }

                row++;
            }
        }

        if (row != expectedRows)
        {
            throw new TrainingDataException($"Soft-target column '{columnName}' has {row} rows; the training data has {expectedRows}.");
        }

        return logits;
    }
}
