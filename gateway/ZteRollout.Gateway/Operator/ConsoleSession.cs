using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using ZteRollout.Gateway.Auth;

namespace ZteRollout.Gateway.Operator;

/// <summary>
/// The console's sign-in: the admin API key, encrypted with ASP.NET Core data protection, in an HttpOnly,
/// SameSite=Strict cookie (Secure over https). The key is looked up again on every request, so a key removed from the
/// key store signs its sessions out; nothing but the key's name and role reaches the page.
/// </summary>
public sealed class ConsoleSession(IDataProtectionProvider protection, ApiKeyStore keys)
{
    public const string CookieName = "zte-console";

    private readonly IDataProtector _protector = protection.CreateProtector("ZteRollout.Console.ApiKey.v1");

    /// <summary>The signed-in operator, or null (no cookie, a cookie this node cannot read, or a key no longer valid).</summary>
    public ApiKeyIdentity? Current(HttpContext context)
    {
        if (context.Request.Cookies[CookieName] is not { Length: > 0 } cookie)
        {
            return null;
        }

        try
        {
            return keys.Find(_protector.Unprotect(cookie));
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    /// <summary>Signs in with <paramref name="apiKey"/> when it is valid; returns who signed in.</summary>
    public ApiKeyIdentity? SignIn(HttpContext context, string apiKey)
    {
        if (keys.Find(apiKey) is not { } identity)
        {
            return null;
        }

        context.Response.Cookies.Append(CookieName, _protector.Protect(apiKey), Options(context));
        return identity;
    }

    public static void SignOut(HttpContext context) => context.Response.Cookies.Delete(CookieName, Options(context));

    private static CookieOptions Options(HttpContext context) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = "/",
        IsEssential = true,
    };

    /// <summary>The campaign actions the console offers, in the order it shows them.</summary>
    public static readonly string[] Actions = ["start", "pause", "resume", "advance", "halt", "cancel"];

    /// <summary>Creates campaigns, starts, pauses, advances and cancels them, uploads packages (as the gRPC API's release-manager policy).</summary>
    public static bool MayManage(ApiKeyIdentity who) => who.Role is RolloutAuth.Roles.ReleaseManager or RolloutAuth.Roles.Admin;

    /// <summary>Freezes and unfreezes the fleet (as the gRPC API's sre policy).</summary>
    public static bool MayFreeze(ApiKeyIdentity who) => MayHalt(who);

    /// <summary>Whether <paramref name="who"/> may take <paramref name="action"/> on a campaign in <paramref name="state"/>: the role rules of the gRPC API, and only the actions the state allows.</summary>
    public static bool MayAct(ApiKeyIdentity who, string action, ZteRollout.Admin.V1.CampaignState state) => action switch
    {
        "start" => MayManage(who) && state == ZteRollout.Admin.V1.CampaignState.Draft,
        "pause" => MayManage(who) && state == ZteRollout.Admin.V1.CampaignState.Running,
        "resume" => state is ZteRollout.Admin.V1.CampaignState.Paused or ZteRollout.Admin.V1.CampaignState.Halted
                    && MayResume(who, state == ZteRollout.Admin.V1.CampaignState.Halted),
        "advance" => MayManage(who) && state == ZteRollout.Admin.V1.CampaignState.Running,
        "halt" => MayHalt(who) && state is ZteRollout.Admin.V1.CampaignState.Running or ZteRollout.Admin.V1.CampaignState.Paused,
        "cancel" => MayManage(who) && state is ZteRollout.Admin.V1.CampaignState.Draft or ZteRollout.Admin.V1.CampaignState.Running
                    or ZteRollout.Admin.V1.CampaignState.Paused or ZteRollout.Admin.V1.CampaignState.Halted,
        _ => false,
    };

    /// <summary>Whether the role may take <paramref name="action"/> at all (in some state): what the server checks before it asks the campaign.</summary>
    public static bool MayEver(ApiKeyIdentity who, string action) => action switch
    {
        "start" or "pause" or "advance" or "cancel" => MayManage(who),
        "resume" => MayResume(who, halted: false),
        "halt" => MayHalt(who),
        _ => false,
    };

    public static bool MayHalt(ApiKeyIdentity who) => who.Role is RolloutAuth.Roles.Sre or RolloutAuth.Roles.Admin;

    /// <summary>A halted campaign resumes by an SRE or admin; a paused one also by a release manager (as the gRPC API).</summary>
    public static bool MayResume(ApiKeyIdentity who, bool halted) =>
        who.Role is RolloutAuth.Roles.Sre or RolloutAuth.Roles.Admin || (!halted && who.Role == RolloutAuth.Roles.ReleaseManager);
}
