using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Ddi;

/// <summary>One action feedback as the agent sent it (<c>status.execution</c>, <c>status.result.finished</c>, details, code).</summary>
public sealed record DdiFeedback(string Execution, string Finished, IReadOnlyList<string> Details, int? Code, string Fingerprint)
{
    public bool IsClosed => Execution == "closed";

    public bool IsFailure => Finished == "failure";
}

/// <summary>
/// Parses action feedback leniently (ids as numbers, strings or empty; <c>time</c> strings; empty details; progress
/// past its total; unknown fields ignored) and maps it onto our install lifecycle as reports for the device grain.
/// </summary>
public static partial class DdiFeedbackMapping
{
    private static readonly string[] Executions = ["closed", "proceeding", "canceled", "scheduled", "rejected", "resumed", "downloaded", "download"];
    private static readonly string[] Finishes = ["success", "failure", "none"];
    private const int MaxDetailLength = 2048;
    private const int MaxErrorCodeLength = 48;

    public static DdiFeedback Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw DdiProblem.BadRequest("feedback body must be a JSON object");
        }

        if (!body.TryGetProperty("status", out var status) || status.ValueKind != JsonValueKind.Object)
        {
            throw DdiProblem.BadRequest("feedback needs 'status', an object with 'execution' and 'result'");
        }

        var execution = Word(status, "execution", "status.execution", Executions);
        if (!status.TryGetProperty("result", out var result) || result.ValueKind != JsonValueKind.Object)
        {
            throw DdiProblem.BadRequest("feedback needs 'status.result', an object with 'finished'");
        }

        var finished = Word(result, "finished", "status.result.finished", Finishes);
        var details = new List<string>();
        if (status.TryGetProperty("details", out var detailArray) && detailArray.ValueKind == JsonValueKind.Array)
        {
            foreach (var detail in detailArray.EnumerateArray())
            {
                var text = detail.ValueKind == JsonValueKind.String ? detail.GetString()! : detail.GetRawText();
                if (text.Length > 0)
                {
                    details.Add(text);
                }
            }
        }

        int? code = status.TryGetProperty("code", out var codeValue) && codeValue.ValueKind == JsonValueKind.Number && codeValue.TryGetInt32(out var c) ? c : null;
        var progress = result.TryGetProperty("progress", out var p) && p.ValueKind == JsonValueKind.Object ? p.GetRawText() : string.Empty;
        var fingerprint = string.Join('\u001f', execution, finished, code?.ToString(CultureInfo.InvariantCulture) ?? string.Empty, progress, string.Join('\u001e', details));
        return new DdiFeedback(execution, finished, details, code, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(fingerprint)))[..24]);
    }

    /// <summary>
    /// The reports a deploymentBase feedback makes, in order: <c>closed</c> ends the offer (SUCCEEDED after an
    /// INSTALLED note, or FAILED with a code from the details); <c>downloaded</c>, <c>download</c> and
    /// <c>proceeding</c> are progress notes (a step named by the details, forward only); <c>canceled</c> by the device
    /// fails the attempt; <c>rejected</c> and the rest change nothing. Report ids come from the feedback's content,
    /// so an agent repeating one is recognised as a duplicate.
    /// </summary>
    public static IReadOnlyList<DeviceReport> ToReports(DdiFeedback feedback, OfferRecord offer)
    {
        string Id(OfferStatus step) => $"ddi-{step.ToString().ToLowerInvariant()}-{feedback.Fingerprint}";
        var detail = Detail(feedback);
        DeviceReport Note(OfferStatus step) =>
            new(offer.OfferId, Id(step), step, 0, null, detail, null, BootSlot.Unspecified) { ProgressNote = true };
        DeviceReport Failed(string code) => new(offer.OfferId, Id(OfferStatus.Failed), OfferStatus.Failed, 0, code, detail, null, BootSlot.Unspecified);

        switch (feedback.Execution)
        {
            case "closed" when feedback.IsFailure:
                return [Failed(ErrorCode(feedback))];
            case "closed":
                // An agent says "closed, success" once the new image runs: the target, booted from the other slot.
                var booted = offer.SourceSlot switch { BootSlot.A => BootSlot.B, BootSlot.B => BootSlot.A, _ => BootSlot.Unspecified };
                return
                [
                    Note(OfferStatus.Installed),
                    new DeviceReport(offer.OfferId, Id(OfferStatus.Succeeded), OfferStatus.Succeeded, offer.Size, null, detail, offer.TargetVersion, booted),
                ];
            case "canceled":
                return [Failed("E_DDI_CANCELED_BY_DEVICE")];
            case "downloaded":
                return [Note(OfferStatus.Downloaded)];
            case "download":
                return [Note(OfferStatus.Downloading)];
            case "proceeding" or "resumed" or "scheduled":
                return StepNamedBy(feedback.Details) is { } step ? [Note(step)] : [];
            default:
                return [];
        }
    }

    /// <summary>
    /// The lifecycle step a progress message names, for SWUpdate's and rauc-hawkbit-updater's messages
    /// ("All Chunks Installed.", "Download complete.", "File checksum OK.", "Installing…", "Downloading…").
    /// </summary>
    public static OfferStatus? StepNamedBy(IReadOnlyList<string> details)
    {
        var text = string.Join(' ', details).ToLowerInvariant();
        if (text.Contains("all chunks installed", StringComparison.Ordinal) || text.Contains("testing pending", StringComparison.Ordinal)
            || text.Contains("installed successfully", StringComparison.Ordinal))
        {
            return OfferStatus.Installed;
        }

        if (text.Contains("download complete", StringComparison.Ordinal))
        {
            return OfferStatus.Downloaded;
        }

        if (text.Contains("checksum ok", StringComparison.Ordinal))
        {
            return OfferStatus.Verified;
        }

        if (text.Contains("install", StringComparison.Ordinal))
        {
            return OfferStatus.Installing;
        }

        return text.Contains("download", StringComparison.Ordinal) ? OfferStatus.Downloading : null;
    }

    /// <summary>
    /// The error code of a failure: the feedback's numeric <c>code</c> (<c>E_DDI_{code}</c>), else a token like
    /// <c>E_SOMETHING</c> in the details, else the words of the first detail that says "error" (or of the first one) as
    /// an upper-case token, else <c>E_DDI_FAILURE</c>.
    /// </summary>
    public static string ErrorCode(DdiFeedback feedback)
    {
        if (feedback.Code is { } code)
        {
            return "E_DDI_" + code.ToString(CultureInfo.InvariantCulture);
        }

        foreach (var detail in feedback.Details)
        {
            if (CodeToken().Match(detail) is { Success: true } match)
            {
                return Clip(match.Value);
            }
        }

        // Agents put an error line among progress lines (SWUpdate: "ERROR hash mismatch : 68f2…"): prefer one that says
        // so. Words with digits (hashes, sizes, offsets) are dropped, so one kind of failure keeps one code.
        var chosen = feedback.Details.FirstOrDefault(d => d.Contains("error", StringComparison.OrdinalIgnoreCase)) ?? feedback.Details.FirstOrDefault();
        var words = chosen is null ? [] : chosen.ToUpperInvariant().Split(NonWordSeparators, StringSplitOptions.RemoveEmptyEntries)
            .Select(w => NotCodeCharacters().Replace(w, "_").Trim('_'))
            .Where(w => w.Length > 0 && !w.Any(char.IsAsciiDigit))
            .Take(MaxErrorCodeWords)
            .ToArray();
        return words.Length == 0 ? "E_DDI_FAILURE" : Clip("E_DDI_" + string.Join('_', words));
    }

    private static readonly char[] NonWordSeparators = [' ', '\t', ':', ',', ';', '(', ')', '[', ']', '"', '\''];
    private const int MaxErrorCodeWords = 6;

    private static string Clip(string code) => code.Length <= MaxErrorCodeLength ? code : code[..MaxErrorCodeLength].TrimEnd('_');

    private static string? Detail(DdiFeedback feedback)
    {
        var text = string.Join(" | ", feedback.Details);
        return text.Length == 0 ? null : text.Length <= MaxDetailLength ? text : text[..MaxDetailLength];
    }

    private static string Word(JsonElement parent, string property, string field, string[] allowed)
    {
        if (!parent.TryGetProperty(property, out var value) || value.ValueKind != JsonValueKind.String)
        {
            throw DdiProblem.BadRequest($"{field} is required, one of {string.Join(", ", allowed)}");
        }

        var word = value.GetString()!.ToLowerInvariant();
        return allowed.Contains(word) ? word : throw DdiProblem.BadRequest($"{field} '{value.GetString()}' is not one of {string.Join(", ", allowed)}");
    }

    [GeneratedRegex(@"\bE_[A-Z0-9_]{2,}\b")]
    private static partial Regex CodeToken();

    [GeneratedRegex(@"[^A-Z0-9]+")]
    private static partial Regex NotCodeCharacters();
}
