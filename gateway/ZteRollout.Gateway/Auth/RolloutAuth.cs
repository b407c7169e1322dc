namespace ZteRollout.Gateway.Auth;

/// <summary>Names shared by the authentication handlers, the policies and the services.</summary>
public static class RolloutAuth
{
    public const string ApiKeyScheme = "ApiKey";

    /// <summary>Policies: one per role level an admin rpc may require (devices: see <see cref="DeviceAuthenticator"/>).</summary>
    public static class Policies
    {
        public const string Viewer = "viewer";
        public const string ReleaseManager = "release-manager";
        public const string Sre = "sre";
        public const string ReleaseManagerOrSre = "release-manager-or-sre";
        public const string Admin = "admin";
    }

    /// <summary>The roles an admin API key may carry.</summary>
    public static class Roles
    {
        public const string Viewer = "viewer";
        public const string ReleaseManager = "release-manager";
        public const string Sre = "sre";
        public const string Admin = "admin";

        public static readonly string[] All = [Viewer, ReleaseManager, Sre, Admin];
    }

    /// <summary>Key under which a handler leaves the reason authentication failed, for the gRPC status message.</summary>
    internal const string FailureItem = "zte:auth-failure";
}
