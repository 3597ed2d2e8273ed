/**
 * The server process: `<python> -m mlops_lsp serve` over stdio, with the API key in its environment.
 * Pure logic, unit-tested without VS Code.
 */

export const SERVER_MODULE = "mlops_lsp";

/** The environment variable the server reads its API key from. */
export const API_KEY_ENV = "MLOPS_LSP_API_KEY";
/** Read by the OpenAI client library, which the `openai:` backends use. */
export const OPENAI_API_KEY_ENV = "OPENAI_API_KEY";

export interface ServerCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * The server's environment: the editor's own, plus the API key from SecretStorage. The key goes to
 * OPENAI_API_KEY only when the user has not set that variable themselves.
 */
export function serverEnvironment(
  baseEnv: Readonly<Record<string, string | undefined>>,
  apiKey: string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(baseEnv)) {
    if (value !== undefined) env[name] = value;
  }
  if (apiKey) {
    env[API_KEY_ENV] = apiKey;
    if (!env[OPENAI_API_KEY_ENV]) env[OPENAI_API_KEY_ENV] = apiKey;
  }
  return env;
}

export function buildServerCommand(
  python: string,
  baseEnv: Readonly<Record<string, string | undefined>>,
  apiKey: string | undefined,
): ServerCommand {
  return {
    command: python,
    args: ["-m", SERVER_MODULE, "serve"],
    env: serverEnvironment(baseEnv, apiKey),
  };
}

/** The command line as a user would type it, for logs and error messages (never includes the key). */
export function formatCommandLine(command: ServerCommand): string {
  const quote = (part: string): string => (/[\s"'$\\]/.test(part) ? JSON.stringify(part) : part);
  return [command.command, ...command.args].map(quote).join(" ");
}
