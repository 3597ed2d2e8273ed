/**
 * Which Python interpreter runs the server. Pure logic, unit-tested without VS Code.
 *
 * Order: the environment selected in the Python extension (ms-python.python), then the
 * `mlops-lsp.interpreter` setting, then the platform's default command.
 */

export type InterpreterSource = "python-extension" | "setting" | "default";

export interface ResolvedInterpreter {
  /** Executable path or command name. */
  command: string;
  source: InterpreterSource;
}

export interface InterpreterInputs {
  /** Executable of the Python extension's active environment; undefined when absent or unresolved. */
  fromPythonExtension: string | undefined;
  /** Raw value of `mlops-lsp.interpreter`. */
  fromSetting: string;
  platform: NodeJS.Platform;
  /** For `${workspaceFolder}` in the setting; undefined without a folder open. */
  workspaceFolder: string | undefined;
  homeDir: string;
}

/** The command when nothing is configured: Windows installs `python` (the py launcher), POSIX `python3`. */
export function defaultPythonCommand(platform: NodeJS.Platform): string {
  return platform === "win32" ? "python" : "python3";
}

/**
 * Expands `${workspaceFolder}`, `${userHome}` and a leading `~` the way VS Code users expect in path
 * settings. A `${workspaceFolder}` with no folder open is left as is, so the failure names it.
 */
export function expandSettingPath(value: string, workspaceFolder: string | undefined, homeDir: string): string {
  let expanded = value.replace(/\$\{userHome\}/g, homeDir);
  if (workspaceFolder !== undefined) {
    expanded = expanded.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  if (expanded === "~" || expanded.startsWith("~/") || expanded.startsWith("~\\")) {
    expanded = homeDir + expanded.slice(1);
  }
  return expanded;
}

export function resolveInterpreter(inputs: InterpreterInputs): ResolvedInterpreter {
  const fromExtension = inputs.fromPythonExtension?.trim();
  if (fromExtension) {
    return { command: fromExtension, source: "python-extension" };
  }
  const fromSetting = inputs.fromSetting.trim();
  if (fromSetting) {
    return {
      command: expandSettingPath(fromSetting, inputs.workspaceFolder, inputs.homeDir),
      source: "setting",
    };
  }
  return { command: defaultPythonCommand(inputs.platform), source: "default" };
}

export function describeInterpreterSource(source: InterpreterSource): string {
  switch (source) {
    case "python-extension":
      return "the Python extension's selected environment";
    case "setting":
      return "the mlops-lsp.interpreter setting";
    case "default":
      return "the default command";
  }
}
