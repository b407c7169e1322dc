using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Grpc.Net.Client;
using ZteRollout.Admin.V1;
using ZteRollout.Device.V1;
using ZteRollout.Gateway.Auth;
using ZteRollout.Gateway.Hosting;
using ZteRollout.Silo;
using ZteRollout.Silo.Hosting;
using ZteRollout.Tests.Infrastructure;

namespace ZteRollout.Tests.Security;

/// <summary>
/// Cluster boundaries (issue 10, point 4): two silos and a gateway on real loopback sockets with TLS and client
/// certificates from a throwaway cluster CA. They join and serve a device; an Orleans client without a certificate,
/// or with one from another CA, cannot connect to the gateway port.
/// </summary>
public sealed class ClusterTlsTests : IAsyncLifetime
{
    private readonly string _directory = TestPaths.NewTempDirectory("cluster-tls");
    private readonly List<IHost> _silos = [];
    private readonly int[] _siloPorts = [TestPaths.FreePort(), TestPaths.FreePort()];
    private readonly int[] _gatewayPorts = [TestPaths.FreePort(), TestPaths.FreePort()];

    public async Task InitializeAsync()
    {
        using var authority = NewAuthority("zte-rollout test cluster CA");
        WritePem(authority, "cluster");
        using (var member = NewMember(authority, "member"))
        {
            WritePem(member, "member");
        }

        using (var stranger = NewAuthority("someone else's CA"))
        using (var strangerMember = NewMember(stranger, "stranger"))
        {
            WritePem(strangerMember, "stranger");
            File.Copy(Path.Combine(_directory, "cluster.crt"), Path.Combine(_directory, "stranger-ca.crt"));
        }

        var database = RolloutDatabase.SqliteFile(Path.Combine(_directory, "cluster.db"));
        await database.PrepareAsync(CancellationToken.None);
        for (var i = 0; i < 2; i++)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Configuration.AddInMemoryCollection(Tls("member"));
            var index = i;
            builder.UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(_siloPorts[index], _gatewayPorts[index], new IPEndPoint(IPAddress.Loopback, _siloPorts[0]), "zte-tls-test", "zte-tls-test");
                silo.AddZteRollout(database);
                silo.Services.Configure<RolloutSiloOptions>(o => o.DataDirectory = _directory);
                silo.UseZteRolloutClusterTls(builder.Configuration);
            });
            var host = builder.Build();
            await host.StartAsync();
            _silos.Add(host);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in Enumerable.Reverse(_silos))
        {
            await silo.StopAsync();
            silo.Dispose();
        }

        TestPaths.TryDelete(_directory);
    }

    [Fact]
    public async Task SilosAndAGatewayWithClusterCertificates_JoinAndServe()
    {
        var web = WebApplication.CreateBuilder(["--urls", "http://127.0.0.1:0"]);
        web.Logging.SetMinimumLevel(LogLevel.Warning);
        web.Configuration.AddInMemoryCollection(Tls("member"));
        web.WebHost.UseZteRolloutEndpoints(web.Configuration, "http://127.0.0.1:0");
        web.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering([.. _gatewayPorts], "zte-tls-test", "zte-tls-test");
            client.UseZteRolloutClusterTls(web.Configuration);
        });
        web.Services.AddZteRolloutGateway(web.Configuration, _directory);
        ApiKeyStore.EnsureBootstrapKey(_directory);
        await using var gateway = web.Build();
        gateway.UseZteRolloutGateway();
        await gateway.StartAsync();
        var address = gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var channel = GrpcChannel.ForAddress(address);
        var admin = new RolloutAdmin.RolloutAdminClient(channel);
        var adminKey = EmbeddedNodeHost.Bearer(File.ReadAllText(Path.Combine(_directory, ApiKeyStore.BootstrapFileName)).Trim());

        var registered = await admin.RegisterDevicesAsync(new RegisterDevicesRequest { Devices = { new DeviceRegistration { DeviceId = "tls-dev-1" } } }, adminKey);
        var checkIn = await new DeviceUpdate.DeviceUpdateClient(channel).CheckInAsync(
            new CheckInRequest { DeviceId = "tls-dev-1", Facts = Scenario.Facts("TLS-M", "T1.0") }, EmbeddedNodeHost.Bearer(registered.Credentials[0].Token));
        var silos = await gateway.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);

        Assert.Equal(CheckInResponse.DecisionOneofCase.NoUpdate, checkIn.DecisionCase);
        Assert.Equal(2, silos.Count);
        await gateway.StopAsync();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("stranger")]
    public async Task AClientWithoutTheClusterCertificate_CannotConnect(string? certificate)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        if (certificate is not null)
        {
            builder.Configuration.AddInMemoryCollection(Tls(certificate));
        }

        builder.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering([.. _gatewayPorts], "zte-tls-test", "zte-tls-test");
            client.UseZteRolloutClusterTls(builder.Configuration);
        });
        using var host = builder.Build();

        // The client never gets a connection: it gives up with a connection error, or is still retrying when the test
        // stops waiting (a client that connected would have started within a second).
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(budget.Token));

        Assert.True(e is OperationCanceledException or OrleansException or Orleans.Runtime.Messaging.ConnectionFailedException or SiloUnavailableException or IOException or TimeoutException,
            $"connection refused as {e.GetType().Name}: {e.Message}");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("stranger")]
    public async Task ATlsHandshakeWithoutAClusterCertificate_IsRefusedByTheSiloAndGatewayPorts(string? certificate)
    {
        using var presented = certificate is null ? null : X509Certificate2.CreateFromPemFile(Path.Combine(_directory, certificate + ".crt"), Path.Combine(_directory, certificate + ".key"));
        foreach (var port in _siloPorts.Concat(_gatewayPorts))
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            await using var tls = new System.Net.Security.SslStream(tcp.GetStream());
            var options = new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "zte-rollout",
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                ClientCertificates = presented is null ? null : [presented],
            };

            // TLS 1.3 reports a refused client certificate on the first read after the handshake.
            var refused = await Record.ExceptionAsync(async () =>
            {
                await tls.AuthenticateAsClientAsync(options);
                var buffer = new byte[1];
                if (await tls.ReadAsync(buffer) == 0)
                {
                    throw new IOException("connection closed by the server");
                }
            });

            Assert.True(refused is System.Security.Authentication.AuthenticationException or IOException,
                $"port {port}: expected the handshake to be refused, got {refused?.GetType().Name ?? "a connection"}");
        }
    }

    [Fact]
    public async Task AMemberCertificate_CompletesTheHandshake()
    {
        using var member = X509Certificate2.CreateFromPemFile(Path.Combine(_directory, "member.crt"), Path.Combine(_directory, "member.key"));
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _gatewayPorts[0]);
        await using var tls = new System.Net.Security.SslStream(tcp.GetStream());

        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "zte-rollout",
            RemoteCertificateValidationCallback = (_, serverCertificate, _, _) =>
                ClusterTls.IssuedBy(serverCertificate as X509Certificate2, X509CertificateLoader.LoadCertificateFromFile(Path.Combine(_directory, "cluster.crt"))),
            ClientCertificates = [member],
        });

        Assert.True(tls.IsMutuallyAuthenticated);
    }

    private Dictionary<string, string?> Tls(string name) => new()
    {
        [$"{ClusterTlsOptions.Section}:CertificatePath"] = Path.Combine(_directory, name + ".crt"),
        [$"{ClusterTlsOptions.Section}:KeyPath"] = Path.Combine(_directory, name + ".key"),
        [$"{ClusterTlsOptions.Section}:CaPath"] = Path.Combine(_directory, name == "stranger" ? "stranger-ca.crt" : "cluster.crt"),
    };

    private static X509Certificate2 NewAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 NewMember(X509Certificate2 authority, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        // Within the authority's own validity (its notAfter is truncated to whole seconds: "now + 30 days" computed a
        // moment later can fall past it).
        using var issued = request.Create(authority, authority.NotBefore.ToUniversalTime(), authority.NotAfter.ToUniversalTime(), RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }

    private void WritePem(X509Certificate2 certificate, string name)
    {
        File.WriteAllText(Path.Combine(_directory, name + ".crt"), certificate.ExportCertificatePem());
        if (certificate.GetECDsaPrivateKey() is { } key)
        {
            File.WriteAllText(Path.Combine(_directory, name + ".key"), key.ExportPkcs8PrivateKeyPem());
        }
    }
}

/// <summary>A cluster gateway's own listeners: TLS unless plaintext is asked for.</summary>
public sealed class GatewayListenerTlsTests
{
    private static IConfiguration Settings(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build();

    [Fact]
    public void APlaintextListener_IsRefused_NamingTheSettings()
    {
        var e = Assert.Throws<InvalidOperationException>(() => GatewayHostingExtensions.RequireTlsListeners(Settings(("urls", "http://0.0.0.0:5080"))));
        var unset = Assert.Throws<InvalidOperationException>(() => GatewayHostingExtensions.RequireTlsListeners(Settings()));

        Assert.Contains("http://0.0.0.0:5080 is plaintext", e.Message);
        Assert.Contains("--Rollout:Gateway:AllowPlaintext=true", e.Message);
        Assert.Contains("http://127.0.0.1:5080 is plaintext", unset.Message);
    }

    [Fact]
    public void ATlsListener_OrAnExplicitPlaintextSetting_IsAccepted()
    {
        Assert.Equal("https://127.0.0.1:5080", GatewayHostingExtensions.RequireTlsListeners(Settings(("Kestrel:Certificates:Default:Path", "/certs/gateway.pem"))));
        Assert.Equal("http://127.0.0.1:5080", GatewayHostingExtensions.RequireTlsListeners(Settings(("urls", "https://0.0.0.0:5080"))));
        Assert.Equal("http://127.0.0.1:5080", GatewayHostingExtensions.RequireTlsListeners(Settings(("urls", "http://127.0.0.1:5080"), ("Rollout:Gateway:AllowPlaintext", "true"))));
    }
}
