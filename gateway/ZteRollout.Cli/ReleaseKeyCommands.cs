using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using ZteRollout.Admin.V1;
using ZteRollout.Shared;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;
using Kind = ZteRollout.Shared.Packages.PackageKind;
using Metadata = ZteRollout.Shared.Packages.PackageMetadata;

namespace ZteRollout.Cli;

/// <summary>
/// <c>packages keygen|sign|rotate|trust-key</c>: release keys that can live offline (docs/security.md, "Release
/// signing"). keygen, sign and rotate run on the release manager's machine and need no server; only trust-key calls one.
/// </summary>
internal static class ReleaseKeyCommands
{
    private const string DefaultExpiry = "90d";

    public static IEnumerable<Command> Create() => [Keygen(), Sign(), Rotate(), TrustKey()];

    private static Command Keygen()
    {
        var output = new Option<FileInfo>("--out") { Description = "Where to write the private key (PEM, owner-only); the public key goes beside it as FILE.pub.pem.", HelpName = "FILE", Required = true };
        var command = new Command("keygen", "Make a release key (ECDSA P-256) offline: writes the private key, prints the public key and its id.") { output };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(ct, () =>
        {
            var path = parse.GetRequiredValue(output).FullName;
            using var key = ReleaseKeys.Generate();
            if (!SecretFiles.TryCreate(path, Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem())))
            {
                throw new InputException($"{path} exists; a release key is never overwritten.");
            }

            var publicPem = key.ExportSubjectPublicKeyInfoPem();
            File.WriteAllText(path + ".pub.pem", publicPem + "\n");
            Console.Out.WriteLine($"key id  {ReleaseKeys.KeyId(key)}");
            Console.Out.WriteLine($"private {path}");
            Console.Out.WriteLine($"public  {path}.pub.pem");
            Console.Out.WriteLine(publicPem);
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command Sign()
    {
        var key = KeyOption("The release key's private key file (from `packages keygen`).");
        var file = new Argument<FileInfo>("FILE") { Description = "A package image to sign a manifest for, or a signed manifest file to sign again (new key or expiry)." }
            .AcceptExistingOnly();
        var version = new Option<string?>("--version") { Description = "Firmware version the package installs.", HelpName = "V" };
        var models = new Option<string[]>("--model") { Description = "A model the package is built for; repeat for several.", HelpName = "M" };
        var kind = new Option<string>("--kind") { Description = "full, or delta over --base-version.", DefaultValueFactory = _ => "full" }.AcceptOnlyFromAmong("full", "delta");
        var baseVersion = new Option<string?>("--base-version") { Description = "For a delta: the version it applies to.", HelpName = "B" };
        var securityVersion = new Option<uint>("--security-version") { Description = "Anti-rollback floor signed into the manifest.", HelpName = "N" };
        var rollbackFrom = new Option<string[]>("--rollback-from") { Description = "A higher version this package may replace; repeat for several.", HelpName = "VERSION" };
        var expires = new Option<string>("--expires")
        {
            Description = $"When the signature stops counting: a duration from now (90d, 12h) or a UTC time (2027-01-31T00:00:00Z). Default {DefaultExpiry}.",
            HelpName = "WHEN",
            DefaultValueFactory = _ => DefaultExpiry,
        };
        var output = new Option<FileInfo?>("--out") { Description = "Signed manifest file to write. Default: FILE.manifest.json (or FILE itself when re-signing).", HelpName = "FILE" };
        var command = new Command("sign", "Sign a package's manifest with a release key, offline; `packages upload --manifest` takes the result.")
        {
            file, key, version, models, kind, baseVersion, securityVersion, rollbackFrom, expires, output,
        };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(ct, async () =>
        {
            using var signer = ReadPrivateKey(parse.GetRequiredValue(key));
            var until = ParseExpiry(parse.GetRequiredValue(expires), DateTimeOffset.UtcNow);
            var path = parse.GetRequiredValue(file).FullName;
            PackageManifest manifest;
            string target;
            if (TryReadSigned(path) is { } signed)
            {
                if (parse.GetValue(version) is not null || parse.GetValue(models) is { Length: > 0 })
                {
                    throw new InputException($"{path} is a signed manifest: its terms are signed already; only --key and --expires apply.");
                }

                manifest = ManifestCodec.Decode(signed.Payload).WithoutSigningTerms();
                target = parse.GetValue(output)?.FullName ?? path;
            }
            else
            {
                var metadata = new Metadata(
                    parse.GetValue(version) ?? throw new InputException("--version is required to sign a package image."),
                    [.. parse.GetValue(models) is { Length: > 0 } m ? m : throw new InputException("--model is required to sign a package image.")],
                    parse.GetValue(kind) == "delta" ? Kind.Delta : Kind.Full,
                    parse.GetValue(baseVersion), 0, 0, string.Empty)
                {
                    SecurityVersion = parse.GetValue(securityVersion),
                    RollbackFrom = [.. parse.GetValue(rollbackFrom) ?? []],
                };
                CheckVersions(metadata);
                var (size, sha256) = await MeasureAsync(path, ct);
                manifest = PackageIdentity.ManifestFor(metadata, size, sha256);
                target = parse.GetValue(output)?.FullName ?? path + ".manifest.json";
            }

            var envelope = ManifestTrust.Sign(manifest, signer, until);
            await File.WriteAllTextAsync(target, envelope.ToJson(), ct);
            Console.Out.WriteLine($"package {manifest.PackageId} ({manifest.Version}, sha256 {manifest.Sha256})");
            Console.Out.WriteLine($"key id  {ReleaseKeys.KeyId(signer)}");
            Console.Out.WriteLine($"expires {ReleaseKeys.WholeSeconds(until).UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}");
            Console.Out.WriteLine($"wrote   {target}");
            return 0;
        }));
        return command;
    }

    private static Command Rotate()
    {
        var key = KeyOption("A release key the server trusts now (private key file): it signs the statement.");
        var newKey = new Option<FileInfo>("--new-key") { Description = "The new release key's public key (PEM, e.g. FILE.pub.pem from keygen).", HelpName = "FILE", Required = true }
            .AcceptExistingOnly();
        var revoke = new Option<string[]>("--revoke") { Description = "Id of a key the statement revokes; repeat for several.", HelpName = "KEY_ID" };
        var revokeSigner = new Option<bool>("--revoke-signer") { Description = "Revoke the signing key itself: the new key replaces it." };
        var output = new Option<FileInfo>("--out") { Description = "Statement file to write.", HelpName = "FILE", Required = true };
        var command = new Command("rotate", "Write a key rotation statement offline: a trusted key introduces a new one (and may revoke keys); `packages trust-key` applies it.")
        {
            key, newKey, revoke, revokeSigner, output,
        };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(ct, async () =>
        {
            using var signer = ReadPrivateKey(parse.GetRequiredValue(key));
            string newPem;
            try
            {
                newPem = ReleaseKeys.NormalizePublicPem(await File.ReadAllTextAsync(parse.GetRequiredValue(newKey).FullName, ct));
            }
            catch (FormatException e)
            {
                throw new InputException($"--new-key: {e.Message}");
            }

            var revoked = (parse.GetValue(revoke) ?? []).ToList();
            if (parse.GetValue(revokeSigner))
            {
                revoked.Add(ReleaseKeys.KeyId(signer));
            }

            var statement = KeyRotationStatement.Sign(signer, newPem, revoked, DateTimeOffset.UtcNow);
            var target = parse.GetRequiredValue(output).FullName;
            await File.WriteAllTextAsync(target, statement.ToJson(), ct);
            Console.Out.WriteLine($"signed by {ReleaseKeys.KeyId(signer)}");
            Console.Out.WriteLine($"new key   {ReleaseKeys.KeyId(newPem)}");
            Console.Out.WriteLine($"revokes   {(revoked.Count > 0 ? string.Join(", ", revoked) : "-")}");
            Console.Out.WriteLine($"wrote     {target}");
            return 0;
        }));
        return command;
    }

    private static Command TrustKey()
    {
        var statement = new Option<FileInfo>("--statement") { Description = "A statement from `packages rotate`.", HelpName = "FILE", Required = true }
            .AcceptExistingOnly();
        var command = new Command("trust-key", "Apply a key rotation statement: the server trusts the new key (and drops revoked ones).") { statement };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var envelope = ReadEnvelope(parse.GetRequiredValue(statement).FullName);
            var keys = await admin.Client.TrustReleaseKeyAsync(
                new TrustReleaseKeyRequest { Statement = ByteString.CopyFrom(envelope.Payload), Signature = ByteString.CopyFrom(envelope.Signature) },
                cancellationToken: ct);
            Render.Result(parse, keys, Render.SigningKey);
            return 0;
        }));
        return command;
    }

    /// <summary>The signed manifest file for <c>packages upload --manifest</c>; InputException when it is not one.</summary>
    public static (SignedEnvelope Envelope, PackageManifest Manifest) ReadSignedManifest(string path)
    {
        var envelope = ReadEnvelope(path);
        try
        {
            return (envelope, ManifestCodec.Decode(envelope.Payload));
        }
        catch (FormatException e)
        {
            throw new InputException($"{path}: the signed payload is not a manifest: {e.Message}");
        }
    }

    private static Option<FileInfo> KeyOption(string description) =>
        new Option<FileInfo>("--key") { Description = description, HelpName = "FILE", Required = true }.AcceptExistingOnly();

    private static ECDsa ReadPrivateKey(FileInfo file)
    {
        try
        {
            return ReleaseKeys.ImportPrivate(File.ReadAllText(file.FullName));
        }
        catch (FormatException e)
        {
            throw new InputException($"--key {file.FullName}: {e.Message}");
        }
    }

    private static SignedEnvelope ReadEnvelope(string path)
    {
        try
        {
            return SignedEnvelope.Parse(File.ReadAllText(path));
        }
        catch (FormatException e)
        {
            throw new InputException($"{path}: {e.Message}");
        }
    }

    private static SignedEnvelope? TryReadSigned(string path)
    {
        // A signed file is small JSON; a package image is neither, and is not read whole to find out.
        if (new FileInfo(path).Length > 1 << 20)
        {
            return null;
        }

        try
        {
            return SignedEnvelope.Parse(File.ReadAllText(path));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static DateTimeOffset ParseExpiry(string text, DateTimeOffset now)
    {
        if (PlanFile.ParseDurationSeconds(text) is { } seconds and > 0)
        {
            return now.AddSeconds(seconds);
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var when))
        {
            return when > now ? when : throw new InputException($"--expires {text} is not in the future.");
        }

        throw new InputException($"--expires '{text}' is neither a duration (90d, 12h) nor a UTC time (2027-01-31T00:00:00Z).");
    }

    private static void CheckVersions(Metadata metadata)
    {
        foreach (var (option, text) in new[] { ("--version", metadata.Version), ("--base-version", metadata.BaseVersion) }
            .Concat(metadata.RollbackFrom.Select(v => ("--rollback-from", (string?)v))))
        {
            if (text is not null && !FirmwareVersion.TryParse(text, out _, out var problem))
            {
                throw new InputException($"{option} '{text}': {problem}");
            }
        }

        if ((metadata.Kind == Kind.Delta) != (metadata.BaseVersion is not null))
        {
            throw new InputException(metadata.Kind == Kind.Delta ? "--kind delta needs --base-version." : "--base-version is only for --kind delta.");
        }
    }

    private static async Task<(long Size, string Sha256)> MeasureAsync(string path, CancellationToken ct)
    {
        await using var stream = File.OpenRead(path);
        var hash = await SHA256.HashDataAsync(stream, ct);
        return (stream.Length, Convert.ToHexStringLower(hash));
    }
}
