using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Gateway;
using ZteRollout.Gateway.Blobs;
using ZteRollout.Shared;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Security;

/// <summary>Key files, the data directory and the blob store (issue 10, point 6).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SecretFilesTests : IDisposable
{
    private const UnixFileMode OtherAccess = UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
    private readonly string _directory = TestPaths.NewTempDirectory("secrets");

    public void Dispose() => TestPaths.TryDelete(_directory);

    [Fact]
    public void AKeyFile_IsCreatedOwnerOnly_AndNeverReplaced()
    {
        var path = Path.Combine(_directory, "keys", "a-key");

        var created = SecretFiles.TryCreate(path, "first"u8);
        var again = SecretFiles.TryCreate(path, "second"u8);

        Assert.True(created);
        Assert.False(again);
        Assert.Equal("first", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        Assert.Equal(["a-key"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void AWorldReadableDataDirectory_LosesOthersAccess()
    {
        var data = Path.Combine(_directory, "data");
        Directory.CreateDirectory(data);
        File.SetUnixFileMode(data, File.GetUnixFileMode(data) | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        var warning = SecretFiles.CreateDirectory(data);

        Assert.Null(warning);
        Assert.Equal(0, (int)(File.GetUnixFileMode(data) & OtherAccess));
    }

    [Fact]
    public async Task AStartedNode_KeepsItsDataDirectoryDatabaseAndKeysFromOthers()
    {
        var data = Path.Combine(_directory, "node");
        await using (var node = await EmbeddedNodeHost.StartAsync(data, new FakeTimeProvider()))
        {
            await node.Admin.GetSigningKeyAsync(new Admin.V1.GetSigningKeyRequest(), node.AdminHeaders);
        }

        Assert.Equal(0, (int)(File.GetUnixFileMode(data) & OtherAccess));
        Assert.Equal(0, (int)(File.GetUnixFileMode(Path.Combine(data, "rollout.db")) & OtherAccess));
        string[] keys = [RolloutDataDirectory.AdminKeyFileName, "device-token-key", Path.Combine("keys", "manifest-signing.pem")];
        Assert.All(keys, key => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, key))));
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("ABCDEF0000000000000000000000000000000000000000000000000000000000")]
    [InlineData("abc")]
    [InlineData("")]
    public void ABlobAddressThatIsNotALowercaseSha256_FormsNoPath(string address)
    {
        var blobs = new BlobStore(Options.Create(new GatewayOptions { DataDirectory = _directory }), new FakeTimeProvider());

        Assert.Throws<ArgumentException>(() => blobs.PathOf(address));
        Assert.EndsWith(Path.Combine("sha256", "ab", "ab" + new string('0', 62)), blobs.PathOf("ab" + new string('0', 62)));
    }

    [Fact]
    public void AtStart_AbandonedUploadsAreDeleted_RecentOnesKept()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var blobs = new BlobStore(Options.Create(new GatewayOptions { DataDirectory = _directory }), clock);
        var temp = Path.Combine(_directory, "blobs", "tmp");
        Directory.CreateDirectory(temp);
        File.WriteAllText(Path.Combine(temp, "abandoned"), "x");
        File.SetLastWriteTimeUtc(Path.Combine(temp, "abandoned"), clock.GetUtcNow().UtcDateTime - TimeSpan.FromHours(2));
        File.WriteAllText(Path.Combine(temp, "in-progress"), "y");
        File.SetLastWriteTimeUtc(Path.Combine(temp, "in-progress"), clock.GetUtcNow().UtcDateTime - TimeSpan.FromMinutes(1));

        var deleted = blobs.DeleteAbandonedUploads();

        Assert.Equal(1, deleted);
        Assert.Equal(["in-progress"], Directory.GetFiles(temp).Select(Path.GetFileName));
    }

    [Fact]
    public async Task AFailedUpload_LeavesNoTempFile()
    {
        var blobs = new BlobStore(Options.Create(new GatewayOptions { DataDirectory = _directory }), new FakeTimeProvider());

        await using (var pending = blobs.BeginUpload(maxBytes: 4))
        {
            await pending.AppendAsync(new byte[3], CancellationToken.None);
            await Assert.ThrowsAsync<ZteRollout.Shared.Errors.RolloutException>(() => pending.AppendAsync(new byte[3], CancellationToken.None));
        }

        Assert.Empty(Directory.GetFiles(Path.Combine(_directory, "blobs", "tmp")));
    }
}
