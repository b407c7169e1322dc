using System.Collections.Immutable;
using System.Text;
using ZteRollout.Cli;
using ZteRollout.Protos.Mapping;
using ZteRollout.Shared.Campaigns;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Fuzz;

/// <summary>
/// The CLI's plan reader (<c>campaigns validate|create</c>) as YAML and as JSON, then the shared mapping and the plan
/// validator, shape and package checks. A bad plan must end as an <see cref="InputException"/> naming where, or as
/// field violations; never as another exception.
/// </summary>
public static class PlanHarness
{
    // A package every target may name, so the validator's model and version checks run too.
    private static readonly PackageRecord KnownPackage = new(
        new PackageManifest("pkg-known", "MF18.2.1.B07", ["MF286D"], PackageKind.Full, null, 1024, new string('a', 64)),
        new PackageMetadata("MF18.2.1.B07", ["MF286D"], PackageKind.Full, null, 0, 0, ""),
        [],
        [],
        DateTimeOffset.UnixEpoch);

    public static void Run(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        ReadAndValidate(text, json: false);
        ReadAndValidate(text, json: true);
    }

    private static void ReadAndValidate(string text, bool json)
    {
        Admin.V1.CampaignPlan wire;
        try
        {
            wire = PlanFile.Parse(text, json ? "fuzz.json" : "fuzz.yaml", json);
        }
        catch (InputException)
        {
            return;
        }

        var plan = CampaignPlanMapping.ToDomain(wire);
        CampaignPlanValidator.ValidateShape(plan);
        CampaignPlanValidator.Validate(plan, id => id == KnownPackage.PackageId ? KnownPackage : null);
    }
}
