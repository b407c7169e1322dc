// The CLI's plan-file reader (linked into this project from ZteRollout.Cli/PlanFile.cs) reports a mistake in the
// plan text with this exception; the console shows its message next to the pasted plan.
namespace ZteRollout.Cli;

internal sealed class InputException(string message) : Exception(message);
