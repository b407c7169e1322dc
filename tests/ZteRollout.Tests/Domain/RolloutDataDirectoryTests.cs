using ZteRollout.Shared;

namespace ZteRollout.Tests.Domain;

/// <summary>Server, CLI and simulator find one data directory: the option, else ZTE_DATA_DIR, else the user's XDG data home.</summary>
public sealed class RolloutDataDirectoryTests
{
    [Fact]
    public void Resolve_OptionGiven_WinsOverEveryVariable()
    {
        var resolved = RolloutDataDirectory.Resolve("/srv/rollout", Variables(("ZTE_DATA_DIR", "/env"), ("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/u")));

        Assert.Equal("/srv/rollout", resolved);
    }

    [Fact]
    public void Resolve_NoOption_TakesZteDataDir()
    {
        var resolved = RolloutDataDirectory.Resolve(null, Variables(("ZTE_DATA_DIR", "/env"), ("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/u")));

        Assert.Equal("/env", resolved);
    }

    [Fact]
    public void Resolve_NeitherOptionNorZteDataDir_IsUnderXdgDataHome()
    {
        var resolved = RolloutDataDirectory.Resolve("", Variables(("ZTE_DATA_DIR", ""), ("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/u")));

        Assert.Equal("/xdg/zte-rollout", resolved);
    }

    [Fact]
    public void Resolve_NoXdgDataHomeOrARelativeOne_IsUnderHomeLocalShare()
    {
        var unset = RolloutDataDirectory.Resolve(null, Variables(("HOME", "/home/u")));
        var relative = RolloutDataDirectory.Resolve(null, Variables(("XDG_DATA_HOME", "relative/xdg"), ("HOME", "/home/u")));

        Assert.Equal("/home/u/.local/share/zte-rollout", unset);
        Assert.Equal("/home/u/.local/share/zte-rollout", relative);
    }

    [Fact]
    public void Resolve_RelativeOption_IsMadeAbsoluteAgainstTheCurrentDirectory()
    {
        var resolved = RolloutDataDirectory.Resolve("data", Variables());

        Assert.Equal(Path.Combine(Environment.CurrentDirectory, "data"), resolved);
    }

    [Fact]
    public void Resolve_NothingSet_AsksForADirectory()
    {
        var error = Assert.Throws<InvalidOperationException>(() => RolloutDataDirectory.Resolve(null, Variables()));

        Assert.Contains("--data-dir", error.Message);
    }

    private static Func<string, string?> Variables(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;
}
