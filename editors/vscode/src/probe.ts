/**
 * A quick check that the chosen interpreter can run the server, before the language client starts
 * it: "python3 not found" or "mlops_lsp is not installed in .venv/bin/python" helps a user more than
 * the client's generic "couldn't create connection to server".
 *
 * Uses node's child_process but not `vscode`, so it is unit-tested with plain `node --test`.
 */
import { execFile } from "node:child_process";
import { SERVER_MODULE } from "./serverCommand";

/** The server's `requires-python`. */
export const MINIMUM_PYTHON: readonly [number, number] = [3, 11];

/** Prints the interpreter's version and whether the module is importable, without importing it. */
export function probeScript(module: string): string {
  return [
    "import importlib.util, json, sys",
    `print(json.dumps({"version": list(sys.version_info[:2]), "executable": sys.executable, "found": importlib.util.find_spec(${JSON.stringify(module)}) is not None}))`,
  ].join("; ");
}

export type ProbeResult =
  | { ok: true; version: string; executable: string }
  | { ok: false; reason: string };

export interface ProbeRun {
  /** Set when the process could not run or exited non-zero. */
  error?: { code?: string | number | null; message: string };
  stdout: string;
  stderr: string;
}

/** Interprets one probe run for `python`; pure. */
export function interpretProbe(python: string, run: ProbeRun, module: string = SERVER_MODULE): ProbeResult {
  if (run.error) {
    if (run.error.code === "ENOENT") return { ok: false, reason: `${python} was not found` };
    if (run.error.code === "EACCES") return { ok: false, reason: `${python} is not executable` };
    const output = (run.stderr.trim() || run.error.message).split("\n").pop() ?? run.error.message;
    return { ok: false, reason: `${python} failed: ${output}` };
  }
  const lastLine = run.stdout.trim().split("\n").pop() ?? "";
  let parsed: { version?: unknown; executable?: unknown; found?: unknown };
  try {
    parsed = JSON.parse(lastLine) as typeof parsed;
  } catch {
    return { ok: false, reason: `${python} is not a Python interpreter (unexpected output ${JSON.stringify(lastLine)})` };
  }
  const version = Array.isArray(parsed.version) ? parsed.version.map(Number) : [];
  const versionText = version.join(".");
  const [major = 0, minor = 0] = version;
  if (major < MINIMUM_PYTHON[0] || (major === MINIMUM_PYTHON[0] && minor < MINIMUM_PYTHON[1])) {
    return { ok: false, reason: `${python} is Python ${versionText}; mlops-lsp needs ${MINIMUM_PYTHON.join(".")} or newer` };
  }
  if (parsed.found !== true) {
    return { ok: false, reason: `the ${module} module is not installed for ${python}` };
  }
  const executable = typeof parsed.executable === "string" ? parsed.executable : python;
  return { ok: true, version: versionText, executable };
}

/** Runs the probe; never rejects. */
export function probeInterpreter(
  python: string,
  env: NodeJS.ProcessEnv,
  module: string = SERVER_MODULE,
  timeoutMs = 20_000,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(
      python,
      ["-c", probeScript(module)],
      { env, timeout: timeoutMs, windowsHide: true },
      (error, stdout, stderr) => {
        const run: ProbeRun = { stdout: String(stdout), stderr: String(stderr) };
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          run.error = { code: typeof code === "string" || typeof code === "number" ? code : null, message: error.message };
        }
        resolve(interpretProbe(python, run, module));
      },
    );
  });
}
