using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Shared;
using ZteRollout.Silo.Host;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Packages;

/// <summary>
/// A Rollout:Signing:TrustedKeys entry that is not a P-256 public key (a mistyped path, a key of another kind) stops the
/// node at start with the setting named. Before, the node started and the package catalog failed at its first call,
/// which callers saw as Internal.
/// </summary>
public sealed class TrustedKeySettingTests
{
    [Theory]
    [InlineData("missing-file", "Rollout:Signing:TrustedKeys:0 is neither a P-256 public key PEM nor a file holding one: ")]
    [InlineData("rsa-key", "Rollout:Signing:TrustedKeys:0 is neither a P-256 public key PEM nor a file holding one: not an ECDSA public key in PEM: ")]
    public async Task ABadTrustedKey_StopsTheNodeAtStart_NamingTheSetting(string entryKind, string expectedStart)
    {
        var directory = TestPaths.NewTempDirectory("trusted-key-setting");
        try
        {
            var entry = Path.Combine(directory, entryKind == "missing-file" ? "no-such-release.pub.pem" : "rsa.pub.pem");
            if (entryKind == "rsa-key")
            {
                using var rsa = System.Security.Cryptography.RSA.Create(2048);
                await File.WriteAllTextAsync(entry, rsa.ExportSubjectPublicKeyInfoPem());
            }

            var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
            await using var app = await EmbeddedNode.BuildAsync(
                EmbeddedNodeHost.Arguments(Path.Combine(directory, "data"), $"--Rollout:Signing:TrustedKeys:0={entry}"),
                services => services.AddSingleton(new RolloutClock(clock)),
                TextWriter.Null);

            var refused = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

            Assert.StartsWith(expectedStart, Assert.Single(refused.Failures));
        }
        finally
        {
            TestPaths.TryDelete(directory);
        }
    }
}
