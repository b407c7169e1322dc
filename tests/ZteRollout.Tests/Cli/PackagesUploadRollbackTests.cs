using System.Text.Json;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Cli;

/// <summary><c>packages upload --security-version --rollback-from</c> against a real embedded node.</summary>
[Collection(NodeCollection.Name)]
public sealed class PackagesUploadRollbackTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    private async Task<CliResult> UploadAsync(string file, params string[] options) =>
        await CliRunner.RunAsync(
            ["packages", "upload", file, "--model", "RP-CLI", .. options, "--gateway", Node.Address, "--api-key", Node.AdminKey, "--output", "json"]);

    [Fact]
    public async Task Upload_WithSecurityVersionAndRollbackFrom_SignsThemIntoThePackage()
    {
        var file = Path.Combine(Node.DataDirectory, "rp-cli-1.img");
        await File.WriteAllBytesAsync(file, Scenario.RandomBytes(3000, seed: 77));

        var result = await UploadAsync(file, "--version", "RPC1.0", "--security-version", "2", "--rollback-from", "RPC1.1", "--rollback-from", "RPC1.2");

        Assert.Equal((0, string.Empty), (result.ExitCode, result.Stderr));
        var metadata = JsonDocument.Parse(result.Stdout).RootElement.GetProperty("metadata");
        Assert.Equal(2, metadata.GetProperty("security_version").GetInt32());
        Assert.Equal(["RPC1.1", "RPC1.2"], metadata.GetProperty("rollback_from").EnumerateArray().Select(v => v.GetString()));
    }

    [Fact]
    public async Task Upload_RollbackFromNotAboveTheVersion_FailsNamingTheField()
    {
        var file = Path.Combine(Node.DataDirectory, "rp-cli-2.img");
        await File.WriteAllBytesAsync(file, Scenario.RandomBytes(3000, seed: 78));

        var result = await UploadAsync(file, "--version", "RPC2.0", "--rollback-from", "RPC1.9");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("metadata.rollback_from[0]", result.Stderr);
    }
}
