using Microsoft.Extensions.Options;

namespace ZteRollout.Silo.Packages;

/// <summary>Release keys and the server's own online key (docs/security.md, "Release signing").</summary>
public sealed class SigningOptions
{
    public const string Section = "Rollout:Signing";

    /// <summary>
    /// Whether the silo keeps an online signing key (<c>{data}/keys/manifest-signing.pem</c>), trusted automatically,
    /// that signs uploads which bring no signed manifest and the deltas the server generates. On by default for the
    /// quick start; off, every upload must carry a manifest signed offline by a trusted release key.
    /// </summary>
    public bool OnlineKey { get; set; } = true;

    /// <summary>How long a manifest the online key signs stays valid (its <c>expires</c>).</summary>
    public TimeSpan OnlineManifestLifetime { get; set; } = TimeSpan.FromDays(365);

    /// <summary>
    /// Release public keys trusted from the start: each a PEM text or the path of a PEM file. Added to the trust store
    /// (the package catalog's state) when the catalog starts; a key revoked by a rotation statement stays revoked.
    /// </summary>
    public List<string> TrustedKeys { get; set; } = [];

    /// <summary>The PEM of each <see cref="TrustedKeys"/> entry: the text itself, or the named file's contents.</summary>
    /// <exception cref="InvalidOperationException">An entry is neither a public key PEM nor a readable file holding one.</exception>
    public static IEnumerable<string> ResolveTrustedKeys(IEnumerable<string> entries)
    {
        var index = 0;
        foreach (var entry in entries)
        {
            var setting = $"{Section}:TrustedKeys:{index++}";
            string pem;
            try
            {
                pem = entry.Contains("-----BEGIN", StringComparison.Ordinal) ? entry : File.ReadAllText(entry);
                pem = Shared.Packages.ReleaseKeys.NormalizePublicPem(pem);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentException)
            {
                throw new InvalidOperationException($"{setting} is neither a P-256 public key PEM nor a file holding one: {e.Message}", e);
            }

            yield return pem;
        }
    }
}

/// <summary>
/// Checks every <see cref="SigningOptions.TrustedKeys"/> entry when the host starts, so a mistyped path or a key that
/// is not P-256 stops the silo with the setting named, instead of failing the package catalog at its first call.
/// </summary>
public sealed class SigningOptionsValidator : IValidateOptions<SigningOptions>
{
    public ValidateOptionsResult Validate(string? name, SigningOptions options)
    {
        try
        {
            _ = SigningOptions.ResolveTrustedKeys(options.TrustedKeys).Count();
            return ValidateOptionsResult.Success;
        }
        catch (InvalidOperationException e)
        {
            return ValidateOptionsResult.Fail(e.Message);
        }
    }
}
