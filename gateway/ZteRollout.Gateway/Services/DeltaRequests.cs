using ZteRollout.Shared.Errors;
using ZteRollout.Shared.Grains;
using ZteRollout.Shared.Packages;
using ZteRollout.Shared.Versions;

namespace ZteRollout.Gateway.Services;

/// <summary>What a GenerateDelta request may ask for: from an older FULL package to a newer one of a shared model.</summary>
public static class DeltaRequests
{
    public static DeltaPair Validate(PackageRecord from, PackageRecord to)
    {
        var problems = new ViolationList();
        if (from.Manifest.Kind != PackageKind.Full)
        {
            problems.Add("from_package_id", $"package '{from.PackageId}' is a DELTA; deltas are generated between FULL packages");
        }

        if (to.Manifest.Kind != PackageKind.Full)
        {
            problems.Add("to_package_id", $"package '{to.PackageId}' is a DELTA; deltas are generated between FULL packages");
        }

        problems.ThrowIfAny();
        if (!from.Manifest.Models.Any(to.Manifest.Models.Contains))
        {
            problems.Add("to_package_id", $"package '{to.PackageId}' ({string.Join(", ", to.Manifest.Models)}) shares no model with '{from.PackageId}' ({string.Join(", ", from.Manifest.Models)})");
        }

        if (FirmwareVersion.Parse(from.Manifest.Version) >= FirmwareVersion.Parse(to.Manifest.Version))
        {
            problems.Add("to_package_id", $"version {to.Manifest.Version} is not above the base's {from.Manifest.Version}; a delta upgrades");
        }

        problems.ThrowIfAny();
        return new DeltaPair(from, to);
    }
}
