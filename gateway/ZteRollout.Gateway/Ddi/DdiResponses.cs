using System.Globalization;
using System.Text.Json.Nodes;
using ZteRollout.Shared.Grains;

namespace ZteRollout.Gateway.Ddi;

/// <summary>
/// The JSON bodies DDI agents read, shaped as hawkBit's (<c>DdiControllerBase</c>, <c>DdiDeploymentBase</c>,
/// <c>DdiCancel</c>, <c>DdiArtifact</c>): ids as strings, HAL <c>_links</c> with absolute hrefs.
/// </summary>
public static class DdiResponses
{
    /// <summary>The longest <c>sleep</c>: SWUpdate parses it with <c>strptime("%H:%M:%S")</c>, so hours stay below 24.</summary>
    public static readonly TimeSpan MaxSleep = new(23, 59, 59);

    /// <summary><c>HH:MM:SS</c> of the interval, between one second (SWUpdate reads 0 as its default) and <see cref="MaxSleep"/>.</summary>
    public static string Sleep(TimeSpan interval)
    {
        var clamped = interval < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : interval > MaxSleep ? MaxSleep : interval;
        return clamped.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
    }

    public static JsonObject Root(string sleep, DdiLinks links, int? deploymentAction, int? cancelAction, bool configData)
    {
        var rels = new JsonObject();
        if (cancelAction is { } cancel)
        {
            rels["cancelAction"] = Href(links.Cancel(cancel));
        }
        else if (deploymentAction is { } deployment)
        {
            rels["deploymentBase"] = Href(links.Deployment(deployment));
        }

        if (configData)
        {
            rels["configData"] = Href(links.ConfigData);
        }

        return new JsonObject
        {
            ["config"] = new JsonObject { ["polling"] = new JsonObject { ["sleep"] = sleep } },
            ["_links"] = rels,
        };
    }

    public static JsonObject Deployment(int actionId, OfferRecord offer, DdiArtifact artifact, DdiLinks links)
    {
        var chunk = new JsonObject
        {
            ["part"] = "os",
            ["version"] = artifact.Version,
            ["name"] = artifact.PackageId,
            ["artifacts"] = new JsonArray(Artifact(actionId, artifact, links)),
        };
        if (offer.ManifestBytes.Length > 0)
        {
            // Our signed manifest, for agents that verify it as the reference agent does.
            chunk["metadata"] = new JsonArray(
                Metadata("zte.manifest", Convert.ToBase64String(offer.ManifestBytes)),
                Metadata("zte.manifest-signature", Convert.ToBase64String(offer.ManifestSignature)),
                Metadata("zte.campaign", offer.CampaignId));
        }

        return new JsonObject
        {
            ["id"] = Id(actionId),
            ["deployment"] = new JsonObject
            {
                // Never "skip": SWUpdate 2022.12 closes a skipped action as a success without installing.
                ["download"] = "forced",
                ["update"] = "forced",
                ["chunks"] = new JsonArray(chunk),
            },
        };
    }

    public static JsonObject Cancel(int actionId) => new()
    {
        ["id"] = Id(actionId),
        ["cancelAction"] = new JsonObject { ["stopId"] = Id(actionId) },
    };

    public static JsonObject Artifact(int actionId, DdiArtifact artifact, DdiLinks links)
    {
        var download = links.Artifact(actionId, artifact.FileName);
        var rels = new JsonObject
        {
            ["download-http"] = Href(download),
            ["md5sum-http"] = Href(download + ".MD5SUM"),
        };
        if (links.IsTls)
        {
            rels["download"] = Href(download);
            rels["md5sum"] = Href(download + ".MD5SUM");
        }

        return new JsonObject
        {
            ["filename"] = artifact.FileName,
            ["hashes"] = new JsonObject { ["sha1"] = artifact.Sha1, ["md5"] = artifact.Md5, ["sha256"] = artifact.Sha256 },
            ["size"] = artifact.Size,
            ["_links"] = rels,
        };
    }

    private static string Id(int actionId) => actionId.ToString(CultureInfo.InvariantCulture);

    private static JsonObject Href(string href) => new() { ["href"] = href };

    private static JsonObject Metadata(string key, string value) => new() { ["key"] = key, ["value"] = value };
}

/// <summary>Absolute links for one controller, from the configured public base URL or the request's own.</summary>
public sealed class DdiLinks(string baseUrl, string tenant, string controllerId)
{
    private readonly string _root = $"{baseUrl.TrimEnd('/')}/{Uri.EscapeDataString(tenant)}/controller/v1/{Uri.EscapeDataString(controllerId)}";

    public bool IsTls => _root.StartsWith("https:", StringComparison.OrdinalIgnoreCase);

    public string ConfigData => _root + "/configData";

    public string Deployment(int actionId) => $"{_root}/deploymentBase/{actionId.ToString(CultureInfo.InvariantCulture)}";

    // No query and no trailing slash: SWUpdate appends "/feedback" to this href.
    public string Cancel(int actionId) => $"{_root}/cancelAction/{actionId.ToString(CultureInfo.InvariantCulture)}";

    public string Artifact(int actionId, string fileName) =>
        $"{_root}/softwaremodules/{actionId.ToString(CultureInfo.InvariantCulture)}/artifacts/{Uri.EscapeDataString(fileName)}";
}
