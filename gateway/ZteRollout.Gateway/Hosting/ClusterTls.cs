using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Orleans.Connections.Security;
using Orleans.Hosting;

namespace ZteRollout.Gateway.Hosting;

/// <summary>
/// Where a member of the cluster finds its TLS material; bound from <c>Rollout:Cluster:Tls</c>. All PEM files:
/// this member's certificate and private key, and the cluster CA that issued every member's certificate.
/// </summary>
public sealed class ClusterTlsOptions
{
    public const string Section = "Rollout:Cluster:Tls";

    public string? CertificatePath { get; set; }

    public string? KeyPath { get; set; }

    public string? CaPath { get; set; }

    public bool Configured => !string.IsNullOrWhiteSpace(CertificatePath);
}

/// <summary>
/// TLS with mutual authentication on Orleans' silo and gateway ports (silo ⇄ silo, gateway ⇄ silo), so that a process
/// without a certificate from the cluster CA cannot open a connection, let alone call a grain (docs/security.md,
/// boundary 2). Each side presents its certificate and accepts the other's only if it chains to the cluster CA, and
/// to nothing else: the machine's trusted roots do not count. Names are not checked — members are addressed by IP and
/// the CA issues certificates to members only.
/// </summary>
public static class ClusterTls
{
    /// <summary>The TLS material from configuration; null when <c>Rollout:Cluster:Tls:CertificatePath</c> is not set.</summary>
    public static (X509Certificate2 Certificate, X509Certificate2 Authority)? Load(IConfiguration configuration)
    {
        var settings = configuration.GetSection(ClusterTlsOptions.Section).Get<ClusterTlsOptions>() ?? new ClusterTlsOptions();
        if (!settings.Configured)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(settings.KeyPath) || string.IsNullOrWhiteSpace(settings.CaPath))
        {
            throw new InvalidOperationException($"{ClusterTlsOptions.Section}: CertificatePath, KeyPath and CaPath are all required for cluster TLS.");
        }

        var certificate = X509Certificate2.CreateFromPemFile(settings.CertificatePath!, settings.KeyPath);

        // A certificate whose key lives only in memory cannot be used by SslStream on every platform; a PKCS#12 round trip fixes that.
        certificate = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        var authority = X509CertificateLoader.LoadCertificateFromFile(settings.CaPath!);
        return (certificate, authority);
    }

    /// <summary>Silo side: TLS on the silo and gateway ports when configured.</summary>
    public static ISiloBuilder UseZteRolloutClusterTls(this ISiloBuilder silo, IConfiguration configuration)
    {
        if (Load(configuration) is { } tls)
        {
            silo.UseTls(tls.Certificate, options => Require(options, tls.Authority));
        }

        return silo;
    }

    /// <summary>Client side (a gateway's Orleans client): TLS to the silos' gateway ports when configured.</summary>
    public static IClientBuilder UseZteRolloutClusterTls(this IClientBuilder client, IConfiguration configuration)
    {
        if (Load(configuration) is { } tls)
        {
            client.UseTls(tls.Certificate, options => Require(options, tls.Authority));
        }

        return client;
    }

    /// <summary>Both directions present a certificate; the remote one must chain to <paramref name="authority"/>.</summary>
    public static void Require(TlsOptions options, X509Certificate2 authority)
    {
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.RemoteCertificateValidation = (certificate, _, _) => IssuedBy(certificate, authority);
    }

    /// <summary>Whether <paramref name="certificate"/> chains to <paramref name="authority"/> alone, and is valid now.</summary>
    public static bool IssuedBy(X509Certificate2? certificate, X509Certificate2 authority)
    {
        if (certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
