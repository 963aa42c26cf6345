using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace MLNetCnn.Serving;

/// <summary>Input of the arg-max mapping: the probability vector.</summary>
public sealed class ScoreInput
{
    /// <summary>Class probabilities.</summary>
    public float[] Score { get; set; } = Array.Empty<float>();
}

/// <summary>Output of the arg-max mapping: the 0-based index of the most probable class.</summary>
public sealed class PredictedIndexOutput
{
    /// <summary>Index of the largest score.</summary>
    [ColumnName(ScoreArgMax.OutputColumnName)]
    public uint PredictedIndex { get; set; }
}

/// <summary>
/// The stateless arg-max step of the serving chain (ML.NET has no built-in vector arg-max transform).
/// Loading a saved model needs this assembly registered:
/// <c>mlContext.ComponentCatalog.RegisterAssembly(typeof(ScoreArgMax).Assembly)</c>
/// (done by <c>mlContext.CnnServing()</c>, <c>mlContext.Cnn()</c> and their <c>LoadModel</c>). The contract name is
/// what a saved model stores, so models saved before this type moved to MLNetCnn.Serving load unchanged.
/// </summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class ScoreArgMax : CustomMappingFactory<ScoreInput, PredictedIndexOutput>
{
    /// <summary>Contract name stored in saved models.</summary>
    public const string ContractName = "MLNetCnn.ScoreArgMax";

    /// <summary>Name of the intermediate column holding the 0-based predicted index.</summary>
    public const string OutputColumnName = "PredictedLabelIndex";

    /// <summary>The mapping itself.</summary>
    /// <exception cref="InvalidDataException">
    /// A score is not a finite number: the row's input held a NaN or an infinity (softmax turns one into NaN scores for
    /// every class), and a label picked from such scores would be silently wrong.
    /// </exception>
    public static void Map(ScoreInput input, PredictedIndexOutput output)
    {
        var scores = input.Score;
        int best = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            if (!float.IsFinite(scores[i]))
            {
                throw new InvalidDataException($"The model's Score is {scores[i]} for class {i}: the row's input holds a NaN or an infinite value, and the model scores finite pixel values only. No label is given for it.");
            }

            if (scores[i] > scores[best])
            {
                best = i;
            }
        }

        output.PredictedIndex = (uint)best;
    }

    /// <inheritdoc/>
    public override Action<ScoreInput, PredictedIndexOutput> GetMapping() => Map;
}
