namespace ZteRollout.Silo;

/// <summary>Names of the Orleans providers the grains use.</summary>
public static class RolloutStorage
{
    /// <summary>
    /// The Orleans ADO.NET grain storage: campaigns, the campaign directory and the package catalog (low-rate grains).
    /// </summary>
    public const string Name = "rollout";

    /// <summary>
    /// ZteRollout's group-commit grain storage on the same database: device grains, whose writes (with the registry and
    /// ledger rows they carry) share transactions across grains.
    /// </summary>
    public const string Hot = "rollout-hot";
}
