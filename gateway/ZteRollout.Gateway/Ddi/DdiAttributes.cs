using System.Globalization;
using System.Text.Json;
using ZteRollout.Shared.Devices;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Gateway.Ddi;

/// <summary>A configData body read as device facts: the mode, and the mapped attributes as a patch.</summary>
public sealed record DdiConfigData(bool Replace, DeviceFactsPatch Patch);

/// <summary>
/// Reads a <c>PUT configData</c> body (<c>{"mode":"merge|replace|remove","data":{…}}</c>, other fields ignored, as
/// both SWUpdate and rauc-hawkbit-updater send status fields along) into facts; every problem names its attribute.
/// </summary>
public static class DdiAttributes
{
    private const int MaxTextLength = 128;

    public static DdiConfigData Parse(JsonElement body, DdiOptions options)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw DdiProblem.BadRequest("configData body must be a JSON object");
        }

        var mode = body.TryGetProperty("mode", out var modeValue) && modeValue.ValueKind == JsonValueKind.String ? modeValue.GetString()! : "merge";
        if (!body.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object)
        {
            throw DdiProblem.BadRequest("configData needs 'data', an object of attribute names to values");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var attribute in data.EnumerateObject())
        {
            values[attribute.Name] = attribute.Value.ValueKind switch
            {
                JsonValueKind.String => attribute.Value.GetString()!,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => attribute.Value.GetRawText(),
                _ => throw DdiProblem.BadRequest($"data.{attribute.Name}: must be a string or a number"),
            };
        }

        if (values.Count == 0)
        {
            throw DdiProblem.BadRequest("configData 'data' must not be empty");
        }

        if (values.Count > options.MaxAttributes)
        {
            throw DdiProblem.BadRequest($"configData carries {values.Count} attributes; at most {options.MaxAttributes}");
        }

        var names = options.Attributes;
        switch (mode.ToLowerInvariant())
        {
            case "merge":
            case "replace":
                break;
            case "remove":
                // Facts decide eligibility; an agent removing one would make the device unknown. Other attributes are
                // not kept, so removing them changes nothing.
                var mapped = values.Keys.Where(k => Mapped(names).Contains(k)).ToList();
                if (mapped.Count > 0)
                {
                    throw DdiProblem.BadRequest($"configData mode 'remove' cannot remove {string.Join(", ", mapped)}: they are device facts");
                }

                return new DdiConfigData(false, new DeviceFactsPatch(null, null, null, null, null, null, null, null, null));
            default:
                throw DdiProblem.BadRequest($"configData mode '{mode}' is not one of merge, replace, remove");
        }

        var problems = new List<string>();
        var patch = new DeviceFactsPatch(
            Text(values, names.Model, problems),
            Text(values, names.HardwareRevision, problems),
            Text(values, names.Region, problems),
            Text(values, names.Carrier, problems),
            Version(values, names.CurrentVersion, problems),
            Slot(values, names.ActiveSlot, problems),
            (int?)Number(values, names.BatteryPercent, 0, 100, problems),
            Number(values, names.FreeStorageBytes, 0, long.MaxValue, problems),
            Text(values, names.AgentVersion, problems));
        if (problems.Count > 0)
        {
            throw DdiProblem.BadRequest(string.Join("; ", problems));
        }

        return new DdiConfigData(mode.Equals("replace", StringComparison.OrdinalIgnoreCase), patch);
    }

    private static string[] Mapped(DdiAttributeNames n) =>
        [n.Model, n.HardwareRevision, n.Region, n.Carrier, n.CurrentVersion, n.ActiveSlot, n.BatteryPercent, n.FreeStorageBytes, n.AgentVersion];

    private static string? Text(Dictionary<string, string> values, string name, List<string> problems)
    {
        if (!values.TryGetValue(name, out var value))
        {
            return null;
        }

        if (value.Length > MaxTextLength)
        {
            problems.Add($"data.{name}: must be at most {MaxTextLength} characters");
        }

        return value.Trim();
    }

    private static string? Version(Dictionary<string, string> values, string name, List<string> problems)
    {
        var value = Text(values, name, problems);
        if (value is not null && !FirmwareVersion.TryParse(value, out _, out var problem))
        {
            problems.Add($"data.{name}: '{value}' is not a firmware version: {problem}");
        }

        return value;
    }

    private static BootSlot? Slot(Dictionary<string, string> values, string name, List<string> problems)
    {
        if (!values.TryGetValue(name, out var value))
        {
            return null;
        }

        var last = value.Trim().ToUpperInvariant() is { Length: > 0 } v ? v[^1] : ' ';
        switch (last)
        {
            case 'A' or '0':
                return BootSlot.A;
            case 'B' or '1':
                return BootSlot.B;
            default:
                problems.Add($"data.{name}: '{value}' names no slot (A or B, or a name ending in 0 or 1)");
                return null;
        }
    }

    private static long? Number(Dictionary<string, string> values, string name, long min, long max, List<string> problems)
    {
        if (!values.TryGetValue(name, out var value))
        {
            return null;
        }

        if (!long.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
        {
            problems.Add($"data.{name}: '{value}' must be a whole number from {min} to {max}");
            return null;
        }

        return number;
    }
}
