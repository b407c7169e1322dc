using System.CommandLine;
using ZteRollout.Admin.V1;

namespace ZteRollout.Cli;

/// <summary><c>ddi gateway-token create|list|revoke</c>: credentials for hawkBit DDI gateways (docs/ddi.md).</summary>
internal static class DdiCommands
{
    public static Command Create() => new("ddi", "The hawkBit DDI facade for SWUpdate and rauc-hawkbit-updater devices (docs/ddi.md).")
    {
        GatewayToken(),
    };

    private static Command GatewayToken()
    {
        var createName = new Argument<string>("NAME") { Description = "Who will use the token, e.g. the gateway's host name." };
        var create = new Command("create", "Create a gateway token (admin): it may act for any device. Its secret is printed once.") { createName };
        create.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var created = await admin.Client.CreateDdiGatewayTokenAsync(new CreateDdiGatewayTokenRequest { Name = parse.GetRequiredValue(createName) }, cancellationToken: ct);
            Render.Result(parse, created, c =>
            {
                Render.Line($"gateway token '{c.Token.Name}' created by {c.Token.CreatedBy}; shown once, keep it now:");
                Render.Line(c.Secret);
                Render.Line("agents send it as 'Authorization: GatewayToken <token>' (SWUpdate: -g, rauc-hawkbit-updater: gateway_token)");
            });
            return 0;
        }));

        var list = new Command("list", "List gateway tokens, active and revoked (never their secrets).");
        list.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var tokens = await admin.Client.ListDdiGatewayTokensAsync(new ListDdiGatewayTokensRequest(), cancellationToken: ct);
            Render.Result(parse, tokens, r =>
            {
                foreach (var token in r.Tokens)
                {
                    Render.Line(Describe(token));
                }

                if (r.Tokens.Count == 0)
                {
                    Render.Line("no gateway tokens");
                }
            });
            return 0;
        }));

        var revokeName = new Argument<string>("NAME") { Description = "The token's name." };
        var revoke = new Command("revoke", "Revoke a gateway token (admin); gateways stop taking it within their credential cache time.") { revokeName };
        revoke.SetAction((parse, ct) => AdminConnection.RunAsync(parse, ct, async admin =>
        {
            var revoked = await admin.Client.RevokeDdiGatewayTokenAsync(new RevokeDdiGatewayTokenRequest { Name = parse.GetRequiredValue(revokeName) }, cancellationToken: ct);
            Render.Result(parse, revoked, t => Render.Line(Describe(t)));
            return 0;
        }));

        return new Command("gateway-token", "Gateway tokens: 'Authorization: GatewayToken <token>' may act for any device.") { create, list, revoke };
    }

    private static string Describe(DdiGatewayToken token) =>
        $"{token.Name}  created {token.CreatedAt.ToDateTimeOffset():u} by {token.CreatedBy}"
        + (token.RevokedAt is null ? "  active" : $"  revoked {token.RevokedAt.ToDateTimeOffset():u} by {token.RevokedBy}");
}
