using System.Text.Json;
using ZteRollout.Shared.Packages;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Cli;

/// <summary>
/// The release manager's workflow through the CLI (README, "Release signing"): keygen, sign and rotate offline,
/// trust-key and upload --manifest against a real embedded node.
/// </summary>
[Collection(NodeCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ReleaseSigningCliTests(NodeFixture fixture)
{
    private EmbeddedNodeHost Node => fixture.Node;

    private string[] Server => ["--gateway", Node.Address, "--api-key", Node.AdminKey, "--output", "json"];

    [Fact]
    public async Task KeygenSignRotateTrustUpload_AReleaseKeyIntroducedByTheOnlineKey_SignsAnUploadTheServerAccepts()
    {
        var work = TestPaths.NewTempDirectory("release-cli");
        try
        {
            var (key, image) = (Path.Combine(work, "release.pem"), Path.Combine(work, "rom.bin"));
            await File.WriteAllBytesAsync(image, Scenario.RandomBytes(5000, seed: 601));

            var keygen = await CliRunner.RunAsync("packages", "keygen", "--out", key);
            Assert.Equal((0, string.Empty), (keygen.ExitCode, keygen.Stderr));
            var keyId = ReleaseKeys.KeyId(await File.ReadAllTextAsync(key + ".pub.pem"));
            Assert.StartsWith($"key id  {keyId}\n", keygen.Stdout, StringComparison.Ordinal);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
            Assert.NotEqual(0, (await CliRunner.RunAsync("packages", "keygen", "--out", key)).ExitCode);

            var sign = await CliRunner.RunAsync("packages", "sign", image, "--key", key, "--version", "RC2.0", "--model", "RS-CLI", "--expires", "36500d");
            Assert.Equal((0, string.Empty), (sign.ExitCode, sign.Stderr));
            var manifest = image + ".manifest.json";

            // Not trusted yet: the server names the field.
            var early = await CliRunner.RunAsync(["packages", "upload", image, "--manifest", manifest, .. Server]);
            Assert.NotEqual(0, early.ExitCode);
            Assert.Contains("manifest.key_id", early.Stderr, StringComparison.Ordinal);

            // The node's online key (the embedded default) introduces the release key.
            var statement = Path.Combine(work, "rotate.json");
            var rotate = await CliRunner.RunAsync("packages", "rotate", "--key", Path.Combine(Node.DataDirectory, "keys", "manifest-signing.pem"),
                "--new-key", key + ".pub.pem", "--out", statement);
            Assert.Equal((0, string.Empty), (rotate.ExitCode, rotate.Stderr));
            var trust = await CliRunner.RunAsync(["packages", "trust-key", "--statement", statement, .. Server]);
            Assert.Equal((0, string.Empty), (trust.ExitCode, trust.Stderr));
            var trusted = JsonDocument.Parse(trust.Stdout).RootElement.GetProperty("release_keys").EnumerateArray()
                .Where(k => !k.TryGetProperty("revoked_at", out _)).Select(k => k.GetProperty("key_id").GetString());
            Assert.Contains(keyId, trusted);

            var upload = await CliRunner.RunAsync(["packages", "upload", image, "--manifest", manifest, .. Server]);
            Assert.Equal((0, string.Empty), (upload.ExitCode, upload.Stderr));
            var package = JsonDocument.Parse(upload.Stdout).RootElement;
            Assert.Equal((keyId, "RC2.0"), (package.GetProperty("key_id").GetString(), package.GetProperty("metadata").GetProperty("version").GetString()));
            var signed = SignedEnvelope.Parse(await File.ReadAllTextAsync(manifest));
            Assert.Equal(Convert.ToBase64String(signed.Payload), package.GetProperty("manifest").GetString());
        }
        finally
        {
            TestPaths.TryDelete(work);
        }
    }

    [Fact]
    public async Task Upload_WithManifestAndVersion_IsRefusedBeforeSending()
    {
        var work = TestPaths.NewTempDirectory("release-cli");
        try
        {
            var (manifest, image) = (Path.Combine(work, "m.json"), Path.Combine(work, "rom.bin"));
            await File.WriteAllTextAsync(manifest, "{}");
            await File.WriteAllBytesAsync(image, [1, 2, 3]);

            var result = await CliRunner.RunAsync(["packages", "upload", image, "--manifest", manifest, "--version", "RC1.0", .. Server]);

            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("--manifest signs the version", result.Stderr + result.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            TestPaths.TryDelete(work);
        }
    }
}
