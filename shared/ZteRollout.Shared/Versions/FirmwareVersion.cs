using System.Diagnostics.CodeAnalysis;

namespace ZteRollout.Shared.Versions;

/// <summary>
/// A firmware build version such as <c>MF18.2.1.B07</c>, with a total order (docs/versions.md):
/// split into segments at '.', '-' and '_'; each segment into runs of digits and runs of letters;
/// runs compare pairwise — digits as numbers, letters case-insensitively, a digit run before a letter run —
/// and when one version is a prefix of the other, the shorter is lower (<c>1.2</c> &lt; <c>1.2.0</c>).
/// </summary>
public sealed class FirmwareVersion : IComparable<FirmwareVersion>, IEquatable<FirmwareVersion>
{
    public const int MaxLength = 64;

    private readonly string[] _runs;

    private FirmwareVersion(string text, string[] runs)
    {
        Text = text;
        _runs = runs;
    }

    /// <summary>The version as written.</summary>
    public string Text { get; }

    // A fleet runs a handful of distinct versions, and every check-in parses the device's (at the gateway and in its
    // grain): parsed versions are immutable, so known ones are shared. Bounded, so odd input cannot grow it forever.
    private const int KnownLimit = 4096;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, FirmwareVersion> Known = new(StringComparer.Ordinal);

    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out FirmwareVersion? version, [NotNullWhen(false)] out string? problem)
    {
        if (text is not null && Known.TryGetValue(text, out version))
        {
            problem = null;
            return true;
        }

        if (!TryParseNew(text, out version, out problem))
        {
            return false;
        }

        if (Known.Count < KnownLimit)
        {
            Known.TryAdd(text, version);
        }

        return true;
    }

    private static bool TryParseNew([NotNullWhen(true)] string? text, [NotNullWhen(true)] out FirmwareVersion? version, [NotNullWhen(false)] out string? problem)
    {
        version = null;
        if (string.IsNullOrEmpty(text))
        {
            problem = "must not be empty";
            return false;
        }

        if (text.Length > MaxLength)
        {
            problem = $"must be at most {MaxLength} characters";
            return false;
        }

        var runs = new List<string>();
        var segmentStart = true;
        for (var i = 0; i < text.Length;)
        {
            var c = text[i];
            if (c is '.' or '-' or '_')
            {
                if (segmentStart)
                {
                    problem = $"has an empty segment at position {i}";
                    return false;
                }

                // A separator ends a segment; an empty run marks the boundary so "1.2" and "12" differ.
                runs.Add(string.Empty);
                segmentStart = true;
                i++;
                continue;
            }

            if (!char.IsAsciiLetterOrDigit(c))
            {
                problem = $"has '{c}' at position {i}; only letters, digits, '.', '-' and '_' are allowed";
                return false;
            }

            var start = i;
            var digits = char.IsAsciiDigit(c);
            while (i < text.Length && char.IsAsciiLetterOrDigit(text[i]) && char.IsAsciiDigit(text[i]) == digits)
            {
                i++;
            }

            runs.Add(text[start..i]);
            segmentStart = false;
        }

        if (segmentStart)
        {
            problem = "must not end with a separator";
            return false;
        }

        version = new FirmwareVersion(text, [.. runs]);
        problem = null;
        return true;
    }

    public static FirmwareVersion Parse(string text) =>
        TryParse(text, out var version, out var problem)
            ? version
            : throw new FormatException($"Version '{text}' {problem}.");

    public int CompareTo(FirmwareVersion? other)
    {
        if (other is null)
        {
            return 1;
        }

        var n = Math.Min(_runs.Length, other._runs.Length);
        for (var i = 0; i < n; i++)
        {
            var c = CompareRuns(_runs[i], other._runs[i]);
            if (c != 0)
            {
                return c;
            }
        }

        return _runs.Length.CompareTo(other._runs.Length);
    }

    private static int CompareRuns(string a, string b)
    {
        // A segment boundary (empty run) sorts before any content: "1.2.0" < "1.2a".
        if (a.Length == 0 || b.Length == 0)
        {
            return a.Length.CompareTo(b.Length);
        }

        var aDigits = char.IsAsciiDigit(a[0]);
        var bDigits = char.IsAsciiDigit(b[0]);
        if (aDigits != bDigits)
        {
            return aDigits ? -1 : 1;
        }

        if (!aDigits)
        {
            return string.Compare(a, b, StringComparison.OrdinalIgnoreCase);
        }

        // Compare digit runs as unbounded numbers: strip leading zeros, then longer is larger.
        var ta = a.TrimStart('0');
        var tb = b.TrimStart('0');
        return ta.Length != tb.Length ? ta.Length.CompareTo(tb.Length) : string.CompareOrdinal(ta, tb);
    }

    public bool Equals(FirmwareVersion? other) => other is not null && CompareTo(other) == 0;

    public override bool Equals(object? obj) => obj is FirmwareVersion other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var run in _runs)
        {
            hash.Add(run.Length > 0 && char.IsAsciiDigit(run[0]) ? run.TrimStart('0') : run.ToUpperInvariant());
        }

        return hash.ToHashCode();
    }

    public override string ToString() => Text;

    public static bool operator <(FirmwareVersion a, FirmwareVersion b) => a.CompareTo(b) < 0;

    public static bool operator >(FirmwareVersion a, FirmwareVersion b) => a.CompareTo(b) > 0;

    public static bool operator <=(FirmwareVersion a, FirmwareVersion b) => a.CompareTo(b) <= 0;

    public static bool operator >=(FirmwareVersion a, FirmwareVersion b) => a.CompareTo(b) >= 0;

    public static bool operator ==(FirmwareVersion? a, FirmwareVersion? b) => a is null ? b is null : a.Equals(b);

    public static bool operator !=(FirmwareVersion? a, FirmwareVersion? b) => !(a == b);

    /// <summary>Compares two version strings that are known to be valid.</summary>
    public static int Compare(string a, string b) => Parse(a).CompareTo(Parse(b));
}
