using System.CommandLine;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Spectre.Console;
using ZteRollout.Admin.V1;

namespace ZteRollout.Cli;

/// <summary>
/// <c>packages upload|list|show|delta|signing-key</c>: firmware images and the keys that sign their manifests; the
/// offline release-key commands are <see cref="ReleaseKeyCommands"/>.
/// </summary>
internal static class PackagesCommands
{
    private const string Full = "full";
    private const string Delta = "delta";
    private const int ChunkSize = 1 << 20;
    // Below this a file hashes and uploads in about a second; a bar would only flicker.
    private const long ProgressBarFrom = 8L << 20;

    public static Command Create()
    {
        var command = new Command("packages", "Upload, list and inspect firmware packages; make and rotate release keys, sign manifests.")
        {
            Upload(),
            List(),
            Show(),
            GenerateDelta(),
            SigningKey(),
        };
        foreach (var releaseKeyCommand in ReleaseKeyCommands.Create())
        {
            command.Subcommands.Add(releaseKeyCommand);
        }

        return command;
    }

    private static Command GenerateDelta()
    {
        var from = new Option<string>("--from") { Description = "The FULL package devices run now (the base).", HelpName = "ID", Required = true };
        var to = new Option<string>("--to") { Description = "The newer FULL package the delta installs.", HelpName = "ID", Required = true };
        var command = new Command("delta", "Have the server generate the delta between two FULL packages (it does so on upload for the previous versions); `packages show` follows it.")
        {
            from, to,
        };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var job = await admin.Client.GenerateDeltaAsync(
                new GenerateDeltaRequest { FromPackageId = parse.GetRequiredValue(from), ToPackageId = parse.GetRequiredValue(to) }, cancellationToken: ct);
            Render.Result(parse, job, j => Render.DeltaGenerations([j]));
            return 0;
        }));
        return command;
    }

    private static Command Upload()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The package image." }.AcceptExistingOnly();
        var signedManifest = new Option<FileInfo>("--manifest")
        {
            Description = "The manifest signed offline (`packages sign`): version, models, kind and rollback terms come from it. Required when the server keeps no online key.",
            HelpName = "FILE",
        }.AcceptExistingOnly();
        var version = new Option<string?>("--version") { Description = "Firmware version the package installs, e.g. MF18.2.1.B08 (without --manifest).", HelpName = "V" };
        var models = new Option<string[]>("--model") { Description = "A model the package is built for; repeat for several (without --manifest).", HelpName = "M" };
        var kind = new Option<string>("--kind") { Description = "A whole image, or a delta over --base-version.", DefaultValueFactory = _ => Full }
            .AcceptOnlyFromAmong(Full, Delta);
        var baseVersion = new Option<string?>("--base-version") { Description = "For a delta: the version it applies to.", HelpName = "B" };
        var minBattery = new Option<uint>("--min-battery") { Description = "Battery percent a device needs to take it.", HelpName = "N" };
        var requiredFree = new Option<ulong>("--required-free-bytes") { Description = "Free storage a device needs to take it.", HelpName = "N" };
        var releaseNotes = new Option<string?>("--release-notes") { Description = "Release notes shown to users.", HelpName = "TEXT" };
        var securityVersion = new Option<uint>("--security-version")
        {
            Description = "Anti-rollback floor signed into the manifest: a device that installed security version N refuses anything below N.",
            HelpName = "N",
        };
        var rollbackFrom = new Option<string[]>("--rollback-from")
        {
            Description = "A higher version this package may replace (makes it a rollback package); repeat for several.",
            HelpName = "VERSION",
        };
        var fileName = new Option<string?>("--filename")
        {
            Description = "File name devices see (hawkBit DDI: SWUpdate takes only *.swu). Default: the file's own name, when it is a plain one.",
            HelpName = "NAME",
        };

        var command = new Command("upload",
            "Upload a package: hashes it locally, streams it in 1 MiB chunks; the server checks the hash and the signed manifest (or, with an online key, signs one).")
        {
            file, signedManifest, version, models, kind, baseVersion, minBattery, requiredFree, releaseNotes, securityVersion, rollbackFrom, fileName,
        };
        // Caught before a large upload rather than after it.
        command.Validators.Add(result =>
        {
            if (result.GetValue(signedManifest) is not null)
            {
                if (result.GetValue(version) is not null || result.GetValue(models) is { Length: > 0 } || result.GetValue(baseVersion) is not null
                    || result.GetValue(securityVersion) != 0 || result.GetValue(rollbackFrom) is { Length: > 0 })
                {
                    result.AddError("--manifest signs the version, models, kind and rollback terms; give them to `packages sign`, not here.");
                }

                return;
            }

            if (result.GetValue(version) is null || result.GetValue(models) is not { Length: > 0 })
            {
                result.AddError("--version and --model are required without --manifest.");
            }

            var isDelta = result.GetValue(kind) == Delta;
            var hasBase = !string.IsNullOrWhiteSpace(result.GetValue(baseVersion));
            if (isDelta != hasBase)
            {
                result.AddError(isDelta ? "--kind delta needs --base-version." : "--base-version is only for --kind delta.");
            }
        });
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var metadata = new PackageMetadata
            {
                MinBatteryPercent = parse.GetValue(minBattery),
                RequiredFreeBytes = parse.GetValue(requiredFree),
                ReleaseNotes = parse.GetValue(releaseNotes) ?? "",
                Filename = parse.GetValue(fileName) ?? PlainName(parse.GetRequiredValue(file).Name),
            };
            if (parse.GetValue(signedManifest) is { } manifestFile)
            {
                // The server checks the signature; the terms are copied so its metadata checks read the same values.
                var (envelope, signed) = ReleaseKeyCommands.ReadSignedManifest(manifestFile.FullName);
                metadata.Version = signed.Version;
                metadata.TargetModels.AddRange(signed.Models);
                metadata.Kind = signed.Kind == Shared.Packages.PackageKind.Delta ? PackageKind.Delta : PackageKind.Full;
                metadata.BaseVersion = signed.BaseVersion ?? "";
                metadata.SecurityVersion = signed.SecurityVersion;
                metadata.RollbackFrom.AddRange(signed.RollbackFrom);
                metadata.SignedManifest = ByteString.CopyFrom(envelope.Payload);
                metadata.ManifestSignature = ByteString.CopyFrom(envelope.Signature);
            }
            else
            {
                metadata.Version = parse.GetRequiredValue(version)!;
                metadata.TargetModels.AddRange(parse.GetRequiredValue(models));
                metadata.Kind = parse.GetValue(kind) == Delta ? PackageKind.Delta : PackageKind.Full;
                metadata.BaseVersion = parse.GetValue(baseVersion) ?? "";
                metadata.SecurityVersion = parse.GetValue(securityVersion);
                metadata.RollbackFrom.AddRange(parse.GetValue(rollbackFrom) ?? []);
            }

            var path = parse.GetRequiredValue(file).FullName;
            var package = await UploadAsync(admin.Client, path, metadata, ct);
            Render.Result(parse, package, Render.Package);
            return 0;
        }));
        return command;
    }

    /// <summary>The local file's name when the server would take it as a package file name; empty otherwise.</summary>
    private static string PlainName(string name) =>
        name.Length is > 0 and <= 128 && name[0] != '.' && !name.EndsWith(".MD5SUM", StringComparison.OrdinalIgnoreCase)
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '+' or '-') ? name : "";

    private static Command List()
    {
        var model = new Option<string?>("--model") { Description = "Only packages for this model.", HelpName = "M" };
        var command = new Command("list", "List packages, newest version first.") { model };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var response = await admin.Client.ListPackagesAsync(new ListPackagesRequest { Model = parse.GetValue(model) ?? "" }, cancellationToken: ct);
            Render.Result(parse, response, r => Render.Packages(r.Packages));
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var id = new Argument<string>("ID") { Description = "The package id." };
        var command = new Command("show", "Show one package.") { id };
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var package = await admin.Client.GetPackageAsync(new GetPackageRequest { PackageId = parse.GetRequiredValue(id) }, cancellationToken: ct);
            Render.Result(parse, package, Render.Package);
            return 0;
        }));
        return command;
    }

    private static Command SigningKey()
    {
        var command = new Command("signing-key", "Print the public key that signs manifests (PEM), for device images.");
        command.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var key = await admin.Client.GetSigningKeyAsync(new GetSigningKeyRequest(), cancellationToken: ct);
            Render.Result(parse, key, Render.SigningKey);
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// Hashes the file, then streams metadata (with the hash as expected_sha256) and the bytes; the metadata must
    /// come first, hence two passes. Large files show both passes as progress bars on an interactive stderr.
    /// </summary>
    private static async Task<Package> UploadAsync(RolloutAdmin.RolloutAdminClient client, string path, PackageMetadata metadata, CancellationToken ct)
    {
        var length = new FileInfo(path).Length;
        if (length < ProgressBarFrom || !Render.Stderr.Profile.Capabilities.Interactive)
        {
            metadata.ExpectedSha256 = await HashAsync(path, _ => { }, ct);
            return await SendAsync(client, path, metadata, _ => { }, ct);
        }

        return await Render.Stderr.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var hashing = progress.AddTask("sha-256", maxValue: length);
                var sending = progress.AddTask("upload", autoStart: false, maxValue: length);
                metadata.ExpectedSha256 = await HashAsync(path, n => hashing.Increment(n), ct);
                sending.StartTask();
                return await SendAsync(client, path, metadata, n => sending.Increment(n), ct);
            });
    }

    private static async Task<string> HashAsync(string path, Action<int> advanced, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var stream = File.OpenRead(path);
        var buffer = new byte[ChunkSize];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            advanced(read);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static async Task<Package> SendAsync(
        RolloutAdmin.RolloutAdminClient client, string path, PackageMetadata metadata, Action<int> advanced, CancellationToken ct)
    {
        using var call = client.UploadPackage(cancellationToken: ct);
        try
        {
            await call.RequestStream.WriteAsync(new UploadPackageRequest { Metadata = metadata }, ct);
            await using var stream = File.OpenRead(path);
            var buffer = new byte[ChunkSize];
            int read;
            while ((read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct)) > 0)
            {
                await call.RequestStream.WriteAsync(new UploadPackageRequest { Chunk = ByteString.CopyFrom(buffer, 0, read) }, ct);
                advanced(read);
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is InvalidOperationException or RpcException && !ct.IsCancellationRequested)
        {
            // The server ended the call early (say, it rejected the metadata); its status is the response's.
        }

        return await call.ResponseAsync;
    }
}
