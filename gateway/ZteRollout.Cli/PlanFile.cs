using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using ZteRollout.Admin.V1;

namespace ZteRollout.Cli;

/// <summary>
/// Reads a campaign plan file into the <see cref="CampaignPlan"/> message. Keys are the proto's field names
/// (snake_case), read through the message descriptors, so the file schema is the contract itself and follows it.
/// JSON files go through the same reader (JSON is YAML's flow syntax) after a strict JSON syntax check, so both
/// formats accept the same keys and report the same line-numbered errors. Range and cross-field checks are the plan
/// validator's (shared with the server): <c>campaigns validate</c> reports them per field.
/// </summary>
internal static partial class PlanFile
{
    private const string SecondsSuffix = "_seconds";

    // "45", "90s", "30m", "2h", "1d", "1h30m": whole units, largest first.
    [GeneratedRegex("^(?:(?<d>[0-9]+)d)?(?:(?<h>[0-9]+)h)?(?:(?<m>[0-9]+)m)?(?:(?<s>[0-9]+)s)?$")]
    private static partial Regex Duration();

    /// <summary>"45", "90s", "30m", "2h", "1d", "1h30m" as seconds, as plan files spell durations; null for anything else.</summary>
    public static uint? ParseDurationSeconds(string text) => Reader.ParseSeconds(text);

    public static CampaignPlan Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new InputException($"plan file '{path}' not found.");
        }

        var json = string.Equals(Path.GetExtension(path), ".json", StringComparison.OrdinalIgnoreCase);
        return Parse(File.ReadAllText(path), path, json);
    }

    public static CampaignPlan Parse(string text, string source, bool json)
    {
        if (json)
        {
            CheckJsonSyntax(text, source);
        }

        var root = LoadSingleDocument(text, source);
        var plan = new CampaignPlan();
        new Reader(source).ReadMessage(root, plan, path: "");
        return plan;
    }

    private static void CheckJsonSyntax(string text, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new InputException($"{source}:{e.LineNumber + 1}: not valid JSON: {e.Message}");
        }
    }

    private static YamlNode LoadSingleDocument(string text, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            var reason = e.InnerException is YamlException inner ? inner.Message : e.Message;
            throw new InputException($"{source}:{e.Start.Line}:{e.Start.Column}: {reason}");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // YamlDotNet refuses some malformed text with these rather than a YamlException (found by fuzzing: an
            // unfinished mapping, a control character in a flow sequence, a bad global tag); they carry no position.
            throw new InputException($"{source}: not a valid YAML document: {e.Message}");
        }

        return stream.Documents.Count switch
        {
            0 => throw new InputException($"{source}: the plan is empty."),
            1 => stream.Documents[0].RootNode,
            _ => throw new InputException($"{source}: holds {stream.Documents.Count} YAML documents; a plan file holds one."),
        };
    }

    /// <summary>Walks one YAML tree into a message, naming the file, line, column and field of any mistake.</summary>
    private sealed class Reader(string source)
    {
        public void ReadMessage(YamlNode node, IMessage message, string path)
        {
            var descriptor = message.Descriptor;
            if (node is not YamlMappingNode mapping)
            {
                throw Problem(node, path, $"expected a mapping with keys {KeyList(descriptor)}, got {Describe(node)}.");
            }

            foreach (var (keyNode, valueNode) in mapping.Children)
            {
                if (keyNode is not YamlScalarNode { Value: { Length: > 0 } key })
                {
                    throw Problem(keyNode, path, "expected a key name.");
                }

                var fieldPath = path.Length == 0 ? key : path + "." + key;
                var field = descriptor.FindFieldByName(key)
                    ?? throw Problem(keyNode, path, $"unknown key '{key}'; expected one of {KeyList(descriptor)}.");
                if (IsNull(valueNode))
                {
                    continue;
                }

                if (field.IsMap)
                {
                    throw Problem(valueNode, fieldPath, "map fields are not supported in plan files.");
                }

                if (!field.IsRepeated)
                {
                    field.Accessor.SetValue(message, ReadValue(valueNode, field, fieldPath));
                    continue;
                }

                if (valueNode is not YamlSequenceNode sequence)
                {
                    throw Problem(valueNode, fieldPath, $"expected a list, got {Describe(valueNode)}.");
                }

                var list = (IList)field.Accessor.GetValue(message);
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    list.Add(ReadValue(sequence.Children[i], field, $"{fieldPath}[{i}]"));
                }
            }
        }

        private object ReadValue(YamlNode node, FieldDescriptor field, string path)
        {
            if (field.FieldType == FieldType.Message)
            {
                var child = field.MessageType.Parser.ParseFrom(ByteString.Empty);
                ReadMessage(node, child, path);
                return child;
            }

            if (node is not YamlScalarNode scalar || IsNull(node))
            {
                throw Problem(node, path, $"expected {Expected(field)}, got {Describe(node)}.");
            }

            var text = scalar.Value ?? "";
            var invariant = CultureInfo.InvariantCulture;
            object? value = field.FieldType switch
            {
                FieldType.String => text,
                FieldType.Bool => text.ToLowerInvariant() switch { "true" => true, "false" => false, _ => null },
                FieldType.Double => double.TryParse(text, NumberStyles.Float, invariant, out var d) && double.IsFinite(d) ? d : null,
                FieldType.Float => float.TryParse(text, NumberStyles.Float, invariant, out var f) && float.IsFinite(f) ? f : null,
                FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 =>
                    int.TryParse(text, NumberStyles.AllowLeadingSign, invariant, out var i) ? i : null,
                FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 =>
                    long.TryParse(text, NumberStyles.AllowLeadingSign, invariant, out var l) ? l : null,
                FieldType.UInt32 or FieldType.Fixed32 when field.Name.EndsWith(SecondsSuffix, StringComparison.Ordinal) => ParseSeconds(text),
                FieldType.UInt32 or FieldType.Fixed32 => uint.TryParse(text, NumberStyles.None, invariant, out var u) ? u : null,
                FieldType.UInt64 or FieldType.Fixed64 => ulong.TryParse(text, NumberStyles.None, invariant, out var ul) ? ul : null,
                FieldType.Enum => EnumValue(field.EnumType, text) is { } e
                    ? Enum.ToObject(field.EnumType.ClrType, e.Number)
                    : null,
                _ => throw Problem(node, path, $"fields of type {field.FieldType} are not supported in plan files."),
            };
            return value ?? throw Problem(node, path, $"expected {Expected(field)}, got '{text}'.");
        }

        /// <summary>A value by its proto name or without the enum's prefix: <c>cohort</c> for HALT_SCOPE_COHORT.</summary>
        private static EnumValueDescriptor? EnumValue(EnumDescriptor type, string text)
        {
            var name = text.ToUpperInvariant();
            return type.FindValueByName(name) ?? (name.Length > 0 && name != "UNSPECIFIED" ? type.FindValueByName(EnumPrefix(type) + name) : null);
        }

        /// <summary>The prefix proto style gives an enum's values: HALT_SCOPE_ for HaltScope.</summary>
        private static string EnumPrefix(EnumDescriptor type) =>
            string.Concat(type.Name.Select((ch, i) => i > 0 && char.IsUpper(ch) ? "_" + ch : ch.ToString())).ToUpperInvariant() + "_";

        internal static uint? ParseSeconds(string text)
        {
            if (uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            {
                return seconds;
            }

            var match = Duration().Match(text);
            if (text.Length == 0 || !match.Success)
            {
                return null;
            }

            ulong total = 0;
            foreach (var (unit, factor) in new[] { ("d", 86_400UL), ("h", 3_600UL), ("m", 60UL), ("s", 1UL) })
            {
                var group = match.Groups[unit];
                if (!group.Success)
                {
                    continue;
                }

                if (!uint.TryParse(group.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
                {
                    return null;
                }

                total += amount * factor;
            }

            return total <= uint.MaxValue ? (uint)total : null;
        }

        private static bool IsNull(YamlNode node) =>
            node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

        private static string Expected(FieldDescriptor field) => field.FieldType switch
        {
            FieldType.String => "a string",
            FieldType.Bool => "true or false",
            FieldType.Double or FieldType.Float => "a number",
            FieldType.UInt32 or FieldType.Fixed32 when field.Name.EndsWith(SecondsSuffix, StringComparison.Ordinal) =>
                "seconds (e.g. 3600) or a duration (e.g. 90s, 30m, 2h, 1d, 1h30m)",
            FieldType.UInt32 or FieldType.Fixed32 or FieldType.UInt64 or FieldType.Fixed64 => "a whole number, 0 or more",
            FieldType.Enum => "one of " + string.Join(", ", field.EnumType.Values
                .Where(v => v.Number != 0)
                .Select(v => v.Name.StartsWith(EnumPrefix(field.EnumType), StringComparison.Ordinal) ? v.Name[EnumPrefix(field.EnumType).Length..].ToLowerInvariant() : v.Name)),
            _ => "a whole number",
        };

        private static string Describe(YamlNode node) => node switch
        {
            YamlMappingNode => "a mapping",
            YamlSequenceNode => "a list",
            _ when IsNull(node) => "nothing",
            YamlScalarNode scalar => $"'{scalar.Value}'",
            _ => "an alias",
        };

        private static string KeyList(MessageDescriptor descriptor) =>
            string.Join(", ", descriptor.Fields.InFieldNumberOrder().Select(f => f.Name));

        private InputException Problem(YamlNode node, string path, string message) =>
            new($"{source}:{node.Start.Line}:{node.Start.Column}: {(path.Length > 0 ? path + ": " : "")}{message}");
    }
}
