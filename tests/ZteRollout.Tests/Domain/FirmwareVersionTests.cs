using ZteRollout.Shared.Versions;

namespace ZteRollout.Tests.Domain;

/// <summary>The firmware version order of docs/versions.md, rule by rule, and the refusals of malformed versions.</summary>
public sealed class FirmwareVersionTests
{
    [Theory]
    [InlineData("MF18.2.1.B07", "MF18.2.1.B10")] // a digit run compares as a number: 07 < 10
    [InlineData("MF18.2.1.B10", "MF18.2.2.B01")] // the leftmost differing run decides
    [InlineData("MF18.2.2.B01", "MF18.10.0.B01")] // 2 < 10 as numbers, not as text
    [InlineData("R9", "R10")]
    [InlineData("1.9", "1.10")]
    [InlineData("1.2.1", "1.2.A")] // a digit run sorts before a letter run
    [InlineData("1.2.0", "1.2a")] // a segment boundary sorts before more content in the same place
    [InlineData("1.2", "1.2.0")] // a prefix is lower
    [InlineData("1.2", "12")] // "1.2" is 1, boundary, 2: the first run 1 < 12
    [InlineData("A1", "b1")] // letters case-insensitively: A < B
    [InlineData("1.9999999999999999999", "1.99999999999999999999")] // digit runs are unbounded numbers
    public void CompareTo_DocumentedPairs_AreOrderedLowThenHigh(string low, string high)
    {
        var a = FirmwareVersion.Parse(low);
        var b = FirmwareVersion.Parse(high);

        Assert.Equal((-1, 1), (Math.Sign(a.CompareTo(b)), Math.Sign(b.CompareTo(a))));
        Assert.True(a < b);
        Assert.True(b > a);
        Assert.True(a <= b);
        Assert.False(a >= b);
        Assert.NotEqual(a, b);
    }

    [Theory]
    [InlineData("MF18.2.1.B07", "MF18.2.1.B7")] // leading zeros do not count
    [InlineData("MF18.2.1.b07", "MF18.2.1.B07")] // letters compare case-insensitively
    [InlineData("1.007", "1.7")]
    [InlineData("1.0", "1.00")]
    public void Equals_VersionsTheRulesMakeEqual_AreEqualWithEqualHashCodes(string first, string second)
    {
        var a = FirmwareVersion.Parse(first);
        var b = FirmwareVersion.Parse(second);

        Assert.Equal(0, a.CompareTo(b));
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.True(a.Equals((object)b));
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.Equal(first, a.Text);
    }

    [Fact]
    public void Sort_ShuffledVersions_GivesTheDocumentedTotalOrder()
    {
        string[] expected =
        [
            "1", "1.2", "1.2.0", "1.2.1", "1.2.A", "1.2a", "1.10", "12", "A1", "MF18.2.1.B07", "MF18.2.1.B10",
            "MF18.2.2.B01", "MF18.10.0.B01", "R9", "R10",
        ];
        var shuffled = expected.Reverse().Concat(expected).ToArray();
        new Random(8).Shuffle(shuffled);

        var sorted = shuffled.Select(FirmwareVersion.Parse).Order().Select(v => v.Text).Distinct().ToArray();

        Assert.Equal(expected, sorted);
    }

    [Fact]
    public void Compare_Strings_ComparesTheirParsedVersions()
    {
        Assert.Equal((-1, 0, 1), (
            Math.Sign(FirmwareVersion.Compare("R9", "R10")),
            FirmwareVersion.Compare("r10", "R10"),
            Math.Sign(FirmwareVersion.Compare("R10", "R9"))));
    }

    [Fact]
    public void CompareTo_Null_IsAbove()
    {
        Assert.Equal(1, FirmwareVersion.Parse("1.0").CompareTo(null));
        Assert.False(FirmwareVersion.Parse("1.0") == null);
    }

    [Theory]
    [InlineData(null, "must not be empty")]
    [InlineData("", "must not be empty")]
    [InlineData(".1", "has an empty segment at position 0")]
    [InlineData("1..2", "has an empty segment at position 2")]
    [InlineData("1.-2", "has an empty segment at position 2")]
    [InlineData("1.2.", "must not end with a separator")]
    [InlineData("1.2+b3", "has '+' at position 3; only letters, digits, '.', '-' and '_' are allowed")]
    [InlineData("1 2", "has ' ' at position 1; only letters, digits, '.', '-' and '_' are allowed")]
    [InlineData("1.2é", "has 'é' at position 3; only letters, digits, '.', '-' and '_' are allowed")]
    public void TryParse_MalformedVersion_IsRefusedWithTheProblem(string? text, string problem)
    {
        Assert.False(FirmwareVersion.TryParse(text, out var version, out var actual));
        Assert.Null(version);
        Assert.Equal(problem, actual);
    }

    [Fact]
    public void TryParse_LongerThanSixtyFourCharacters_IsRefused_AndSixtyFourIsAccepted()
    {
        Assert.True(FirmwareVersion.TryParse(new string('7', 64), out _, out _));
        Assert.False(FirmwareVersion.TryParse(new string('7', 65), out _, out var problem));
        Assert.Equal("must be at most 64 characters", problem);
    }

    [Fact]
    public void Parse_MalformedVersion_ThrowsFormatExceptionNamingIt()
    {
        var e = Assert.Throws<FormatException>(() => FirmwareVersion.Parse("1..2"));

        Assert.Equal("Version '1..2' has an empty segment at position 2.", e.Message);
    }

    [Theory]
    [InlineData("MF18.2.1.B07")]
    [InlineData("v2_1-rc3")]
    public void TryParse_ValidVersion_KeepsItsTextAsWritten(string text)
    {
        Assert.True(FirmwareVersion.TryParse(text, out var version, out var problem));
        Assert.Null(problem);
        Assert.Equal(text, version.ToString());
    }
}
