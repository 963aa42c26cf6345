namespace MLNetCnn.Tricks.Training;

/// <summary>
/// Options set that change nothing in the run they are given to, each said in one warning at the start of
/// <see cref="ClassifierTrainer.Fit"/>. Found by an outside sweep: each of these trained normally without a word.
/// </summary>
internal static class IdleOptions
{
    /// <param name="options">The run's options.</param>
    /// <param name="stepsPerEpoch">Optimizer steps in one epoch.</param>
    /// <param name="zeroedGammas">Batch norms <see cref="TrainerOptions.ZeroGamma"/> set to zero (null when it is off).</param>
    /// <param name="architecture">The model's name, for the message.</param>
    /// <param name="validationGiven">Whether validation data was given to <c>Fit</c> (the estimator's <c>ValidationSet</c>).</param>
    public static IEnumerable<string> Warnings(TrainerOptions options, int stepsPerEpoch, int? zeroedGammas, string architecture, bool validationGiven = false)
    {
        if (validationGiven && options.ValidationFraction > 0)
        {
            yield return FormattableString.Invariant($"ValidationFraction {options.ValidationFraction} (the estimator's ValidationSetFraction) is ignored: a validation set was given, and every epoch is evaluated on it; all the training images train.");
        }

        if (options.Mixup is { } mixup && mixup.OffForLastEpochs >= options.Epochs)
        {
            yield return $"Mixup.OffForLastEpochs {mixup.OffForLastEpochs} is at least Epochs {options.Epochs}: mixup never runs.";
        }

        if (options.FreezeEpochs >= options.Epochs)
        {
            yield return $"FreezeEpochs {options.FreezeEpochs} is at least Epochs {options.Epochs}: the frozen parameters never train.";
        }

        long warmup = options.Schedule.WarmupStepCount(stepsPerEpoch);
        long total = (long)stepsPerEpoch * options.Epochs;
        if (warmup > total)
        {
            yield return FormattableString.Invariant($"the learning-rate warmup ({warmup} steps) is longer than the run ({total} steps): the rate never reaches LearningRate {options.LearningRate} and never decays.");
        }

        if (zeroedGammas == 0)
        {
            yield return $"ZeroGamma finds no residual block's last batch norm in {architecture} (it applies to ResNet-style blocks): it changes nothing.";
        }
    }
}
