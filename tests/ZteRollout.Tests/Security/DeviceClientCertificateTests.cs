using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Gateway.Hosting;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Security;

/// <summary>
/// Optional device mTLS (<c>Rollout:Gateway:DeviceClientCaPath</c>): a node serving TLS with a throwaway device CA. A
/// device call needs its token and a client certificate from that CA whose subject CN is its device id.
/// </summary>
public sealed class DeviceClientCertificateTests : IAsyncLifetime
{
    private readonly string _directory = TestPaths.NewTempDirectory("device-mtls");
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero));
    private readonly List<GrpcChannel> _channels = [];
    private X509Certificate2 _authority = null!;
    private EmbeddedNodeHost _node = null!;
    private string _token = null!;

    public async Task InitializeAsync()
    {
        _authority = NewAuthority("zte-devices");
        var server = NewLeaf(_authority, "localhost", serverAuth: true);
        File.WriteAllText(Path.Combine(_directory, "devices-ca.crt"), _authority.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_directory, "server.crt"), server.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_directory, "server.key"), server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());

        _node = await EmbeddedNodeHost.StartAsync(Path.Combine(_directory, "data"), _clock,
            "--urls", "https://127.0.0.1:0",
            $"--Kestrel:Certificates:Default:Path={Path.Combine(_directory, "server.crt")}",
            $"--Kestrel:Certificates:Default:KeyPath={Path.Combine(_directory, "server.key")}",
            $"--Rollout:Gateway:DeviceClientCaPath={Path.Combine(_directory, "devices-ca.crt")}");
        var admin = new RolloutAdmin.RolloutAdminClient(Channel(clientCertificate: null));
        var registered = await admin.RegisterDevicesAsync(new RegisterDevicesRequest { Devices = { new DeviceRegistration { DeviceId = "mtls-dev-1" } } }, _node.AdminHeaders);
        _token = registered.Credentials.Single().Token;
    }

    [Fact]
    public async Task ACertificateNamingTheDevice_WithItsToken_IsServed()
    {
        var response = await CheckInAsync(NewLeaf(_authority, "mtls-dev-1", serverAuth: false));

        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, response.DecisionCase);
    }

    [Fact]
    public async Task AnotherDevicesCertificate_IsPermissionDenied_EvenWithAValidToken()
    {
        var e = await RpcAssert.FailsAsync(StatusCode.PermissionDenied, () => CheckInAsync(NewLeaf(_authority, "mtls-dev-2", serverAuth: false)));

        Assert.Equal("the client certificate is not this device's", e.Status.Detail);
    }

    [Fact]
    public async Task NoCertificate_IsUnauthenticated_EvenWithAValidToken()
    {
        var e = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, () => CheckInAsync(clientCertificate: null));

        Assert.Equal("a device client certificate is required", e.Status.Detail);
    }

    [Fact]
    public async Task ACertificateNamingTheDevice_FromAnotherAuthority_IsRefusedInTheHandshake()
    {
        var stranger = NewLeaf(NewAuthority("someone-else"), "mtls-dev-1", serverAuth: false);

        await RpcAssert.FailsAsync(StatusCode.Unavailable, () => CheckInAsync(stranger));
    }

    private Task<CheckInResponse> CheckInAsync(X509Certificate2? clientCertificate) =>
        new DeviceUpdate.DeviceUpdateClient(Channel(clientCertificate))
            .CheckInAsync(new CheckInRequest { DeviceId = "mtls-dev-1", Facts = Scenario.Facts("MTLS-M", "M1.0") }, EmbeddedNodeHost.Bearer(_token))
            .ResponseAsync;

    private GrpcChannel Channel(X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is X509Certificate2 c && ClusterTls.IssuedBy(c, _authority),
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            },
        };
        var channel = GrpcChannel.ForAddress(_node.Address, new GrpcChannelOptions { HttpHandler = handler });
        _channels.Add(channel);
        return channel;
    }

    private static X509Certificate2 NewAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 NewLeaf(X509Certificate2 authority, string commonName, bool serverAuth)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(System.Net.IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        using var issued = request.Create(authority, authority.NotBefore.ToUniversalTime(), authority.NotAfter.ToUniversalTime(), RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }

    public async Task DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        await _node.DisposeAsync();
        TestPaths.TryDelete(_directory);
    }
}
