using System.Globalization;
using System.Text;

namespace ZteRollout.Shared.Campaigns;

/// <summary>Whether a stage may hand over to the next; the explanation lists what is still missing, or the figures that met it.</summary>
[GenerateSerializer, Immutable, Alias("zte.StageGateVerdict")]
public sealed record StageGateVerdict([property: Id(0)] bool Met, [property: Id(1)] string Explanation);

/// <summary>
/// The gate between stages (DESIGN.md, campaign lifecycle): a stage has soaked for its minimum time, has enough
/// completed outcomes, and enough of them succeeded. Counts are the stage's own; times are parameters, never a clock.
/// </summary>
public static class StageGates
{
    public static StageGateVerdict Evaluate(StagePlan stage, DateTimeOffset stageStartedAt, DateTimeOffset now, long completed, long succeeded)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(completed);
        ArgumentOutOfRangeException.ThrowIfNegative(succeeded);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(succeeded, completed);

        // A clock that stepped back reads as no soak yet rather than as a negative one.
        var soaked = now > stageStartedAt ? now - stageStartedAt : TimeSpan.Zero;
        var soakMet = soaked >= stage.MinSoak;
        var countMet = completed >= stage.GateMinCompleted;
        double? rate = completed == 0 ? null : (double)succeeded / completed;
        var rateMet = rate is { } r ? r >= stage.GateMinSuccessRate : stage.GateMinSuccessRate <= 0;

        var soakText = $"soaked {FormatDuration(soaked)} of {FormatDuration(stage.MinSoak)}";
        var countText = Invariant($"{completed} of {stage.GateMinCompleted} completed");
        var rateText = rate is { } shown
            ? Invariant($"success {shown:0.0%} {(rateMet ? "≥" : "<")} {stage.GateMinSuccessRate:0.0%}")
            : Invariant($"success unknown (nothing completed) {(rateMet ? "≥" : "<")} {stage.GateMinSuccessRate:0.0%}");

        if (soakMet && countMet && rateMet)
        {
            return new StageGateVerdict(true, $"{soakText}; {countText}; {rateText}");
        }

        var missing = new List<string>(3);
        if (!soakMet)
        {
            missing.Add(soakText);
        }

        if (!countMet)
        {
            missing.Add(countText);
        }

        if (!rateMet)
        {
            missing.Add(rateText);
        }

        return new StageGateVerdict(false, string.Join("; ", missing));
    }

    /// <summary>
    /// The gate over devices, each counted once: <see cref="StageOutcomes.Decided"/> must reach the gate's count, and
    /// the success rate is judged over every offered device with those still in flight counted as not succeeded, so
    /// the order results arrive in cannot open the gate early (it is a lower bound on the rate the devices end at).
    /// </summary>
    public static StageGateVerdict Evaluate(StagePlan stage, DateTimeOffset stageStartedAt, DateTimeOffset now, StageOutcomes devices)
    {
        if (devices.Undecided == 0)
        {
            return Evaluate(stage, stageStartedAt, now, devices.Decided, devices.Succeeded);
        }

        var soaked = now > stageStartedAt ? now - stageStartedAt : TimeSpan.Zero;
        var soakMet = soaked >= stage.MinSoak;
        var countMet = devices.Decided >= stage.GateMinCompleted;
        var rate = (double)devices.Succeeded / devices.Offered;
        var rateMet = rate >= stage.GateMinSuccessRate;
        var soakText = $"soaked {FormatDuration(soaked)} of {FormatDuration(stage.MinSoak)}";
        var countText = Invariant($"{devices.Decided} of {stage.GateMinCompleted} completed");
        var rateText = Invariant(
            $"success {rate:0.0%} {(rateMet ? "≥" : "<")} {stage.GateMinSuccessRate:0.0%} ({devices.Succeeded} of {devices.Offered} offered, {devices.Undecided} in flight counted as not succeeded)");
        string[] parts = soakMet && countMet && rateMet
            ? [soakText, countText, rateText]
            : [.. new[] { (soakMet, soakText), (countMet, countText), (rateMet, rateText) }.Where(p => !p.Item1).Select(p => p.Item2)];
        return new StageGateVerdict(soakMet && countMet && rateMet, string.Join("; ", parts));
    }

    /// <summary>Compact durations such as "1h30m" or "45s", whole seconds (a soak is never judged finer); zero is "0s".</summary>
    internal static string FormatDuration(TimeSpan duration)
    {
        if (duration < TimeSpan.FromSeconds(1))
        {
            return "0s";
        }

        var text = new StringBuilder();
        Append(text, duration.Days, 'd');
        Append(text, duration.Hours, 'h');
        Append(text, duration.Minutes, 'm');
        Append(text, duration.Seconds, 's');
        return text.ToString();
    }

    private static void Append(StringBuilder text, int value, char unit)
    {
        if (value > 0)
        {
            text.Append(value.ToString(CultureInfo.InvariantCulture)).Append(unit);
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
