/**
 * The interpreter selected in the Python extension (ms-python.python), through its public
 * `environments` API. Only the members used here are typed, so the extension need not depend on
 * `@vscode/python-extension`; an older Python extension without that API counts as absent.
 */
import * as vscode from "vscode";

export const PYTHON_EXTENSION_ID = "ms-python.python";

interface EnvironmentPath {
  readonly id: string;
  /** The interpreter, or the environment's folder when it has none (e.g. an empty conda env). */
  readonly path: string;
}

interface ResolvedEnvironment {
  readonly executable: { readonly uri: vscode.Uri | undefined };
}

interface PythonEnvironmentsApi {
  getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
  resolveEnvironment(environment: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
  readonly onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
}

interface PythonExtensionApi {
  readonly environments?: PythonEnvironmentsApi;
}

async function environmentsApi(log: vscode.LogOutputChannel): Promise<PythonEnvironmentsApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (extension === undefined) return undefined;
  try {
    const api = extension.isActive ? extension.exports : await extension.activate();
    if (api?.environments === undefined) {
      log.warn(`${PYTHON_EXTENSION_ID} has no environments API (too old?); using the setting or the default`);
      return undefined;
    }
    return api.environments;
  } catch (error) {
    log.error(`Activating ${PYTHON_EXTENSION_ID} failed: ${String(error)}`);
    return undefined;
  }
}

/** The active environment's interpreter for `resource`, or undefined when there is none to use. */
export async function pythonExtensionInterpreter(
  resource: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string | undefined> {
  const environments = await environmentsApi(log);
  if (environments === undefined) return undefined;
  try {
    const active = environments.getActiveEnvironmentPath(resource);
    const resolved = await environments.resolveEnvironment(active);
    const executable = resolved?.executable.uri?.fsPath;
    if (executable) return executable;
    log.warn(`The Python extension's environment ${active.path} has no interpreter; using the setting or the default`);
    return undefined;
  } catch (error) {
    log.error(`Reading the Python extension's environment failed: ${String(error)}`);
    return undefined;
  }
}

/** Calls `listener` when the user selects another environment; undefined without the Python extension. */
export async function onPythonEnvironmentChange(
  listener: () => void,
  log: vscode.LogOutputChannel,
): Promise<vscode.Disposable | undefined> {
  const environments = await environmentsApi(log);
  return environments?.onDidChangeActiveEnvironmentPath(() => listener());
}
