using System.Security.Cryptography;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Admin.V1;
using ZteRollout.DeviceAgent;
using ZteRollout.Shared.Packages;
using ZteRollout.Tests.Infrastructure;
using Agent = ZteRollout.DeviceAgent.DeviceAgent;

namespace ZteRollout.Tests.Packages;

/// <summary>
/// Offline-grade signing (issue 10, point 5) on a node configured as production would be: no online key, one release
/// key trusted by configuration. An upload is accepted only with a manifest that key signed for exactly those bytes,
/// before its expiry; every refusal names the manifest field at fault.
/// </summary>
public sealed class ReleaseSigningTests(ReleaseSigningTests.OfflineNodeFixture fixture) : IClassFixture<ReleaseSigningTests.OfflineNodeFixture>
{
    private EmbeddedNodeHost Node => fixture.Node;

    private DateTimeOffset Now => fixture.Clock.GetUtcNow();

    [Fact]
    public async Task Upload_SignedByTheTrustedReleaseKey_IsStoredWithTheSignedBytesKeyIdAndExpiry()
    {
        var bytes = Scenario.RandomBytes(3000, seed: 501);
        var signed = TestSigning.Sign(Scenario.Full("RS-OK", "RS1.0"), bytes, fixture.ReleaseKey, Now.AddDays(30));

        var package = await Scenario.UploadAsync(Node, TestSigning.Carrying(Scenario.Full("RS-OK", "RS1.0"), signed), bytes);

        Assert.Equal(signed.Payload, package.Manifest.ToByteArray());
        Assert.Equal(signed.Signature, package.ManifestSignature.ToByteArray());
        Assert.Equal(ReleaseKeys.KeyId(fixture.ReleaseKey), package.KeyId);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero), package.Expires.ToDateTimeOffset());
        Assert.Equal(TestSigning.ManifestFor(Scenario.Full("RS-OK", "RS1.0"), bytes).PackageId, package.PackageId);
    }

    [Fact]
    public async Task Upload_SignedByAnUnknownKey_IsRefused_NamingManifestKeyId()
    {
        using var stranger = ReleaseKeys.Generate();
        var bytes = Scenario.RandomBytes(3000, seed: 502);

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
            Scenario.UploadAsync(Node, TestSigning.SignedUpload(Scenario.Full("RS-UK", "RS1.0"), bytes, stranger, Now.AddDays(30)), bytes));

        Assert.Equal(["manifest.key_id"], RpcAssert.Fields(e));
        Assert.Contains(ReleaseKeys.KeyId(stranger), e.Status.Detail, StringComparison.Ordinal);
        await AssertNotStoredAsync("RS-UK");
    }

    [Fact]
    public async Task Upload_WithAnExpiredManifest_IsRefused_NamingManifestExpires()
    {
        var bytes = Scenario.RandomBytes(3000, seed: 503);

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
            Scenario.UploadAsync(Node, TestSigning.SignedUpload(Scenario.Full("RS-EX", "RS1.0"), bytes, fixture.ReleaseKey, Now.AddSeconds(-1)), bytes));

        Assert.Equal(["manifest.expires"], RpcAssert.Fields(e));
        Assert.Contains("2026-11-01T07:59:59Z has passed", e.Status.Detail, StringComparison.Ordinal);
        await AssertNotStoredAsync("RS-EX");
    }

    [Fact]
    public async Task Upload_WhoseSignatureIsNotTheTrustedKeys_IsRefused_NamingManifestSignature()
    {
        var bytes = Scenario.RandomBytes(3000, seed: 504);
        var signed = TestSigning.Sign(Scenario.Full("RS-BS", "RS1.0"), bytes, fixture.ReleaseKey, Now.AddDays(30));
        var forged = signed with { Signature = [.. signed.Signature] };
        forged.Signature[10] ^= 0x40;

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
            Scenario.UploadAsync(Node, TestSigning.Carrying(Scenario.Full("RS-BS", "RS1.0"), forged), bytes));

        Assert.Equal(["manifest.signature"], RpcAssert.Fields(e));
        await AssertNotStoredAsync("RS-BS");
    }

    [Fact]
    public async Task Upload_OfOtherBytesThanTheManifestSigns_IsRefused_NamingManifestSha256()
    {
        var signedFor = Scenario.RandomBytes(3000, seed: 505);
        var uploaded = Scenario.RandomBytes(3000, seed: 506);

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
            Scenario.UploadAsync(Node, TestSigning.SignedUpload(Scenario.Full("RS-SH", "RS1.0"), signedFor, fixture.ReleaseKey, Now.AddDays(30)), uploaded));

        Assert.Equal(["manifest.sha256"], RpcAssert.Fields(e));
        await AssertNotStoredAsync("RS-SH");
    }

    [Fact]
    public async Task Upload_DeclaringAnotherVersionThanTheManifestSigns_IsRefused_NamingMetadataVersion()
    {
        var bytes = Scenario.RandomBytes(3000, seed: 507);
        var signed = TestSigning.Sign(Scenario.Full("RS-MV", "RS1.0"), bytes, fixture.ReleaseKey, Now.AddDays(30));

        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
            Scenario.UploadAsync(Node, TestSigning.Carrying(Scenario.Full("RS-MV", "RS9.0"), signed), bytes));

        Assert.Equal(["metadata.version"], RpcAssert.Fields(e));
    }

    [Fact]
    public async Task Upload_WithoutASignedManifest_OnAServerWithoutAnOnlineKey_IsRefused_NamingManifestSignature()
    {
        var e = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
            Scenario.UploadAsync(Node, Scenario.Full("RS-NO", "RS1.0"), Scenario.RandomBytes(3000, seed: 508)));

        Assert.Equal(["manifest.signature"], RpcAssert.Fields(e));
        var keys = await Node.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), Node.AdminHeaders);
        Assert.Equal("", keys.PublicKeyPem);
        Assert.Equal([ReleaseKeys.KeyId(fixture.ReleaseKey)], keys.ReleaseKeys.Select(k => k.KeyId));
    }

    [Fact]
    public async Task KeyRotation_EndToEnd_NewKeyIntroducedByTheOldOne_SignsUploadsTheAgentInstalls_AndSurvivesARestart()
    {
        var directory = TestPaths.NewTempDirectory("rotation");
        try
        {
            using var oldKey = ReleaseKeys.Generate();
            using var newKey = ReleaseKeys.Generate();
            using var stranger = ReleaseKeys.Generate();
            var (oldId, newId) = (ReleaseKeys.KeyId(oldKey), ReleaseKeys.KeyId(newKey));
            var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 20, 9, 0, 0, TimeSpan.Zero));
            var oldKeyPath = Path.Combine(directory, "old.pub.pem");
            TestSigning.WritePublicKey(oldKey, oldKeyPath);
            var args = OfflineNodeFixture.Arguments(oldKeyPath);
            var bytes = Scenario.RandomBytes(4096, seed: 511);
            var metadata = Scenario.Full("RS-ROT", "RS2.0");
            await using (var node = await EmbeddedNodeHost.StartAsync(Path.Combine(directory, "data"), clock, args))
            {
                // Before the rotation the new key is unknown.
                var early = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
                    Scenario.UploadAsync(node, TestSigning.SignedUpload(metadata, bytes, newKey, clock.GetUtcNow().AddDays(30)), bytes));
                Assert.Equal(["manifest.key_id"], RpcAssert.Fields(early));

                // A statement signed by a key the server does not trust introduces nothing.
                var forged = KeyRotationStatement.Sign(stranger, newKey.ExportSubjectPublicKeyInfoPem(), [oldId], clock.GetUtcNow());
                var refused = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () => TrustAsync(node, forged));
                Assert.Equal(["statement.signed_by"], RpcAssert.Fields(refused));

                // The old key introduces the new one and retires itself.
                clock.Advance(TimeSpan.FromMinutes(1));
                var statement = KeyRotationStatement.Sign(oldKey, newKey.ExportSubjectPublicKeyInfoPem(), [oldId], clock.GetUtcNow());
                var keys = await TrustAsync(node, statement);
                Assert.Equal([(oldId, true), (newId, false)], keys.ReleaseKeys.Select(k => (k.KeyId, k.RevokedAt is not null)));
                Assert.Equal([(oldId, true), (newId, false)], (await TrustAsync(node, statement)).ReleaseKeys.Select(k => (k.KeyId, k.RevokedAt is not null)));

                // Valid long past the fake clock: the agent judges expiry on the wall clock.
                var package = await Scenario.UploadAsync(node, TestSigning.SignedUpload(metadata, bytes, newKey, clock.GetUtcNow() + TestSigning.OnlineManifestLifetime), bytes);
                Assert.Equal(newId, package.KeyId);

                var retired = Scenario.RandomBytes(4096, seed: 512);
                var late = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
                    Scenario.UploadAsync(node, TestSigning.SignedUpload(Scenario.Full("RS-ROT", "RS2.1"), retired, oldKey, clock.GetUtcNow().AddDays(30)), retired));
                Assert.Equal(["manifest.key_id"], RpcAssert.Fields(late));

                // A device whose image ships the new key installs it.
                await Scenario.StartCampaignAsync(node, "rs-rot", "RS-ROT", package.PackageId);
                var token = (await Scenario.RegisterAsync(node, "rs-rot-1"))["rs-rot-1"];
                var device = SimulatedDevice.Create(Path.Combine(directory, "agents", "rs-rot-1"), "RS1.0");
                var agent = new Agent(node.Channel.CreateCallInvoker(), "rs-rot-1", token, TestSigning.Pems(newKey), device, new AgentBehavior { Model = "RS-ROT" });
                var result = await agent.RunOnceAsync(CancellationToken.None);
                Assert.Equal((AgentOutcome.Succeeded, "RS2.0"), (result.Outcome, device.CurrentVersion));
            }

            // The trust store is the catalog's state: after a restart the configured old key stays revoked.
            await using (var again = await EmbeddedNodeHost.StartAsync(Path.Combine(directory, "data"), clock, args))
            {
                var keys = await again.Admin.GetSigningKeyAsync(new GetSigningKeyRequest(), again.AdminHeaders);
                Assert.Equal([(oldId, true), (newId, false)], keys.ReleaseKeys.Select(k => (k.KeyId, k.RevokedAt is not null)));
                var other = Scenario.RandomBytes(4096, seed: 513);
                var stillRefused = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, () =>
                    Scenario.UploadAsync(again, TestSigning.SignedUpload(Scenario.Full("RS-ROT", "RS2.2"), other, oldKey, clock.GetUtcNow().AddDays(30)), other));
                Assert.Equal(["manifest.key_id"], RpcAssert.Fields(stillRefused));
            }
        }
        finally
        {
            TestPaths.TryDelete(directory);
        }
    }

    private static Task<SigningKey> TrustAsync(EmbeddedNodeHost node, SignedEnvelope statement) =>
        node.Admin.TrustReleaseKeyAsync(new TrustReleaseKeyRequest
        {
            Statement = Google.Protobuf.ByteString.CopyFrom(statement.Payload),
            Signature = Google.Protobuf.ByteString.CopyFrom(statement.Signature),
        }, node.AdminHeaders).ResponseAsync;

    private async Task AssertNotStoredAsync(string model) =>
        Assert.Empty((await Node.Admin.ListPackagesAsync(new ListPackagesRequest { Model = model }, Node.AdminHeaders)).Packages);

    /// <summary>A node without an online key that trusts one release key from configuration.</summary>
    public sealed class OfflineNodeFixture : IAsyncLifetime
    {
        private readonly string _directory = TestPaths.NewTempDirectory("offline-signing");

        public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero));

        public ECDsa ReleaseKey { get; } = ReleaseKeys.Generate();

        public EmbeddedNodeHost Node { get; private set; } = null!;

        public static string[] Arguments(string trustedKeyPath) =>
            ["--Rollout:Signing:OnlineKey=false", $"--Rollout:Signing:TrustedKeys:0={trustedKeyPath}"];

        public async Task InitializeAsync()
        {
            Directory.CreateDirectory(_directory);
            var publicKeyPath = Path.Combine(_directory, "release.pub.pem");
            TestSigning.WritePublicKey(ReleaseKey, publicKeyPath);
            Node = await EmbeddedNodeHost.StartAsync(Path.Combine(_directory, "data"), Clock, Arguments(publicKeyPath));
        }

        public async Task DisposeAsync()
        {
            await Node.DisposeAsync();
            ReleaseKey.Dispose();
            TestPaths.TryDelete(_directory);
        }
    }
}
