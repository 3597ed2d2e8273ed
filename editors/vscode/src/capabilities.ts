/** Checks on what the running server announced. Pure logic, unit-tested without VS Code. */

/** The server command that rebuilds the LanceDB documentation index. */
export const REBUILD_INDEX_COMMAND = "mlops-lsp.rebuildIndex";

interface ExecuteCommandCapabilities {
  executeCommandProvider?: { commands?: readonly string[] };
}

export function serverSupportsCommand(capabilities: ExecuteCommandCapabilities | undefined, command: string): boolean {
  return capabilities?.executeCommandProvider?.commands?.includes(command) ?? false;
}

/** A one-line summary of whatever the server returned from `workspace/executeCommand`. */
export function summarizeCommandResult(result: unknown): string | undefined {
  if (result === null || result === undefined) return undefined;
  if (typeof result === "string") return result.trim() || undefined;
  if (typeof result === "object") {
    const message = (result as { message?: unknown }).message;
    if (typeof message === "string" && message.trim()) return message.trim();
  }
  return undefined;
}
