using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;
using ZteRollout.Gateway.Hosting;

namespace ZteRollout.Gateway.Auth;

/// <summary>
/// Optional device mTLS, as hawkBit offers it: with <see cref="GatewayOptions.DeviceClientCaPath"/> set, the TLS
/// listeners ask for a client certificate and accept only one issued by that CA (checked once per connection, in the
/// handshake), and a device call must come over a connection whose certificate's subject CN is the device id it names.
/// The device token is still required: a stolen certificate alone, or a stolen token alone, is not enough.
/// </summary>
public sealed class DeviceClientCertificates(IOptions<GatewayOptions> options)
{
    private readonly bool _required = !string.IsNullOrEmpty(options.Value.DeviceClientCaPath);

    /// <summary>Unauthenticated without a client certificate, PermissionDenied for one naming another device; nothing when off.</summary>
    public void Require(string deviceId, ServerCallContext context)
    {
        if (!_required)
        {
            return;
        }

        var certificate = context.GetHttpContext().Connection.ClientCertificate;
        if (certificate is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a device client certificate is required"));
        }

        if (certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false) != deviceId)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "the client certificate is not this device's"));
        }
    }

    /// <summary>Kestrel's TLS: ask every client for a certificate (optional: operators and admins have none) and accept only the device CA's.</summary>
    public static void RequestFromDevices(HttpsConnectionAdapterOptions https, string authorityPath)
    {
        var authority = X509CertificateLoader.LoadCertificateFromFile(authorityPath);
        https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
        https.ClientCertificateValidation = (certificate, _, _) => ClusterTls.IssuedBy(certificate, authority);
    }
}
