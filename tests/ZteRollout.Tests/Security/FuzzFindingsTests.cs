using System.Text;
using ZteRollout.Cli;
using ZteRollout.Gateway.Ddi;
using ZteRollout.Shared.Packages;

namespace ZteRollout.Tests.Security;

/// <summary>
/// Inputs the fuzz harnesses (tests/ZteRollout.Fuzz) crashed a parser with, each refused cleanly now. The crashing
/// input is kept here as the fuzzer found it, minimized by hand to the part that mattered.
/// </summary>
public sealed class FuzzFindingsTests
{
    // JsonDocument.Parse does not check the UTF-8 inside strings; JsonElement.GetString() then threw
    // InvalidOperationException ("Cannot transcode invalid UTF-8 JSON text to UTF-16 string"): a DDI 500.
    public static TheoryData<string, byte[]> BodiesWithInvalidUtf8 => new()
    {
        { "status.execution", Body("""{"status":{"execution":"clo""", [0xC3], """sed","result":{"finished":"success"}}}""") },
        { "status.result.finished", Body("""{"status":{"execution":"closed","result":{"finished":"fail""", [0x90], """ure"}}}""") },
        { "status.details[1]", Body("""{"status":{"execution":"closed","result":{"finished":"failure"},"details":["Downloading...","ERROR hash """, [0x90], """: 68"]}}""") },
        { "status.result.progress (a key)", Body("""{"status":{"execution":"proceeding","result":{"finished":"none","prog""", [0x84], """ess":{"cnt":1}}}}""") },
        { "configData data value", Body("""{"mode":"merge","data":{"model":"MF""", [0xFF], """286D"}}""") },
        { "configData data name", Body("""{"mode":"merge","data":{"mo""", [0xE2, 0x82], """del":"MF286D"}}""") },
    };

    [Theory]
    [MemberData(nameof(BodiesWithInvalidUtf8))]
    public void DdiBody_WithInvalidUtf8InAString_IsBadRequest_NotAnInternalError(string where, byte[] body)
    {
        var problem = Assert.Throws<DdiProblem>(() =>
        {
            var json = DdiService.ParseBody(body);
            DdiFeedbackMapping.Parse(json);
            DdiAttributes.Parse(json, new DdiOptions());
        });

        Assert.Equal((400, "zte.ddi.badRequest", "body has a string that is not valid Unicode text"), (problem.Status, problem.ErrorCode, problem.Message));
        Assert.NotEmpty(where);
    }

    [Fact]
    public void DdiBody_WithAnEscapedLoneSurrogate_IsBadRequest_NotAnInternalError()
    {
        var problem = Assert.Throws<DdiProblem>(() =>
            DdiFeedbackMapping.Parse(DdiService.ParseBody(Body("""{"status":{"execution":"closed\ud800","result":{"finished":"success"}}}"""))));

        Assert.Equal((400, "body has a string that is not valid Unicode text"), (problem.Status, problem.Message));
    }

    // YamlDotNet's parser throws more than YamlException on malformed input; PlanFile caught only YamlException, so
    // `campaigns validate` of such a file crashed with a stack trace instead of exit code 1 and a message.
    [Theory]
    [InlineData(":\n :", "System.ArgumentException: The current event is of an unsupported type")]
    [InlineData(": [  \u001a\n- deo", "System.InvalidOperationException: Operation is not valid due to the current state of the object")]
    [InlineData("...\0]?0m?9#", "System.InvalidOperationException: The scanner should contain no more tokens")]
    [InlineData("del: !!---C-+---\n", "System.ArgumentException: Global tags must be valid URIs")]
    public void PlanFile_ThatYamlDotNetRefusesWithoutAYamlException_IsAnInputErrorNamingTheFile(string text, string foundAs)
    {
        var problem = Assert.Throws<InputException>(() => PlanFile.Parse(text, "plan.yaml", json: false));

        Assert.StartsWith("plan.yaml: not a valid YAML document: ", problem.Message);
        Assert.NotEmpty(foundAs);
    }

    // The 'signed' harness: a rotation statement whose new public key names the curve OID 1.6.840.10045.3.1.7 (one
    // DER byte off P-256's 1.2.840.10045.3.1.7). OpenSSL refuses it with PlatformNotSupportedException, which
    // NormalizePublicPem did not catch: TrustReleaseKey with such a statement was an Internal error, not a refusal.
    // Kept with JSON's escaped line breaks, as a statement carries it.
    private const string KeyWithAnUnknownCurve =
        "-----BEGIN PUBLIC KEY-----\\n" +
        "MFkwEwYHKoZIzj0CAQYILoZIzj0DAQcDQgAEcyUMMxNhrwnVbLMNSxh2hkUbOg51\\n" +
        "kc9shuXkpJT7TzztKrGhvFTXj6oqc71J/+Xp48LMbh5kBC5U3We/l5FrVg==\\n" +
        "-----END PUBLIC KEY-----";

    [Fact]
    public void PublicKey_OnACurveThePlatformDoesNotKnow_IsAFormatError()
    {
        var problem = Assert.Throws<FormatException>(() => ReleaseKeys.NormalizePublicPem(KeyWithAnUnknownCurve.Replace("\\n", "\n", StringComparison.Ordinal)));

        Assert.StartsWith("not an ECDSA public key in PEM: ", problem.Message);
    }

    [Fact]
    public void RotationStatement_NamingAKeyOnACurveThePlatformDoesNotKnow_IsAFormatError()
    {
        var statement = Body($$"""{"format":"zte-rollout-key-rotation/1","signedBy":"5","newKeyId":"28","newPublicKey":"{{KeyWithAnUnknownCurve}}","revokes":[],"issuedAt":"2026-12-01T00:00:00Z"}""");

        var problem = Assert.Throws<FormatException>(() => KeyRotationStatement.Decode(statement));

        Assert.StartsWith("not an ECDSA public key in PEM: ", problem.Message);
    }

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] Body(string before, byte[] invalid, string after) =>
        [.. Encoding.UTF8.GetBytes(before), .. invalid, .. Encoding.UTF8.GetBytes(after)];
}
