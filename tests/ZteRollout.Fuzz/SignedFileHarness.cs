using System.Text;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Fuzz;

/// <summary>
/// The signed files a release manager hands the server (issue 10, point 5): a <c>zte-rollout-signed/1</c> envelope
/// holding a manifest (upload) or a key rotation statement (trust-key). Reading refuses anything else with a
/// <see cref="FormatException"/>; an envelope nobody trusted signed is never judged valid, and its payload, read as a
/// rotation statement, either decodes or is refused the same way.
/// </summary>
public static class SignedFileHarness
{
    private static readonly IReadOnlyDictionary<string, string> TrustedKeys = ManifestHarness.TrustedKeys;

    public static void Run(byte[] input)
    {
        SignedEnvelope envelope;
        try
        {
            envelope = SignedEnvelope.Parse(Encoding.UTF8.GetString(input));
        }
        catch (FormatException)
        {
            return;
        }

        ManifestHarness.RequireNotTrusted(envelope.Payload, envelope.Signature);
        try
        {
            var statement = KeyRotationStatement.Decode(envelope.Payload);
            if (KeyRotationStatement.SignatureVerifies(envelope.Payload, envelope.Signature, TrustedKeys.Values.Single()))
            {
                throw new BrokenInvariantException($"a rotation statement nobody signed verified (new key {statement.NewKeyId})");
            }
        }
        catch (FormatException)
        {
            // Not a statement: refused as the server refuses it.
        }
    }
}
