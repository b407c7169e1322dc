namespace ZteRollout.Silo;

/// <summary>Names of the Orleans providers the grains use.</summary>
public static class RolloutStorage
{
    /// <summary>The grain storage provider every grain's state goes through.</summary>
    public const string Name = "rollout";
}
