using System.Text;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Fuzz;

/// <summary>
/// Firmware versions as devices send them: two versions, one per line. Parsing returns a problem or a version, and
/// parsed versions keep a total order: antisymmetric, equal ones hash alike, and a version equals itself.
/// </summary>
public static class VersionHarness
{
    public static void Run(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        var first = newline < 0 ? text : text[..newline];
        var second = newline < 0 ? text : text[(newline + 1)..];
        var a = Parse(first);
        var b = Parse(second);
        if (a is null || b is null)
        {
            return;
        }

        Check(a, a);
        Check(a, b);
    }

    private static FirmwareVersion? Parse(string text)
    {
        if (!FirmwareVersion.TryParse(text, out var version, out var problem))
        {
            if (string.IsNullOrEmpty(problem))
            {
                throw new BrokenInvariantException($"'{text}' refused without a problem named");
            }

            return null;
        }

        if (version.Text != text)
        {
            throw new BrokenInvariantException($"'{text}' parsed as '{version.Text}'");
        }

        return version;
    }

    private static void Check(FirmwareVersion a, FirmwareVersion b)
    {
        var ab = Math.Sign(a.CompareTo(b));
        var ba = Math.Sign(b.CompareTo(a));
        if (ab != -ba)
        {
            throw new BrokenInvariantException($"'{a}' vs '{b}' compares {ab}, the other way {ba}");
        }

        if (ab == 0 && (!a.Equals(b) || a.GetHashCode() != b.GetHashCode()))
        {
            throw new BrokenInvariantException($"'{a}' and '{b}' compare equal but are not equal or hash apart");
        }

        if (a.CompareTo(a) != 0)
        {
            throw new BrokenInvariantException($"'{a}' does not equal itself");
        }
    }
}
