/**
 * VS Code entry point: wiring only. Decisions (settings, interpreter, command line, status text,
 * progress arithmetic) live in the pure modules next to this file and are unit-tested.
 */
import { randomUUID } from "node:crypto";
import * as os from "node:os";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  ResponseError,
  RevealOutputChannelOn,
  State,
  TransportKind,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import { REBUILD_INDEX_COMMAND, serverSupportsCommand, summarizeCommandResult } from "./capabilities";
import { describeInterpreterSource, resolveInterpreter, type ResolvedInterpreter } from "./interpreter";
import { probeInterpreter } from "./probe";
import { ProgressTracker } from "./progress";
import { NotificationProgress } from "./progressUi";
import { onPythonEnvironmentChange, PYTHON_EXTENSION_ID, pythonExtensionInterpreter } from "./pythonExtension";
import { buildServerCommand, formatCommandLine } from "./serverCommand";
import {
  answerConfiguration,
  classifyConfigurationChange,
  readSettings,
  SETTINGS_SECTION,
  toServerSettings,
  type ExtensionSettings,
  type ServerSettings,
} from "./settings";
import { statusContent, type ServerState } from "./status";

const CLIENT_ID = "mlops-lsp";
const CLIENT_NAME = "MLOps LSP";
/** SecretStorage key of the model backend's API key. */
const API_KEY_SECRET = "mlops-lsp.apiKey";

const COMMANDS = {
  restart: "mlopsLsp.restartServer",
  rebuildIndex: "mlopsLsp.rebuildIndex",
  showOutput: "mlopsLsp.showOutput",
  setApiKey: "mlopsLsp.setApiKey",
} as const;

/** The scope settings and the interpreter are read for: one server serves the whole window. */
function primaryFolder(): vscode.Uri | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri;
}

/** Owns the language client: starting, stopping, restarting, and the state shown in the status bar. */
class ServerController implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private state: ServerState = "stopped";
  private detail: string | undefined;
  private interpreter: ResolvedInterpreter | undefined;
  /** True while this extension stops the client, so that the Stopped event is not an error. */
  private stopping = false;
  /** Start/stop/restart run one after another, never interleaved. */
  private queue: Promise<void> = Promise.resolve();
  private readonly loggedProblems = new Set<string>();
  private readonly status: vscode.StatusBarItem;
  readonly progress: NotificationProgress;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly output: vscode.LogOutputChannel,
  ) {
    this.status = vscode.window.createStatusBarItem("mlops-lsp.status", vscode.StatusBarAlignment.Right, 100);
    this.status.name = CLIENT_NAME;
    this.status.command = COMMANDS.showOutput;
    this.progress = new NotificationProgress((token) => {
      this.client
        ?.sendNotification(WorkDoneProgressCancelNotification.type, { token })
        .catch((error: unknown) => this.output.error(`Cancelling progress failed: ${String(error)}`));
    });
    this.refreshStatus();
    this.status.show();
  }

  /** Validated settings for a scope; invalid values are logged once each and replaced by defaults. */
  settings(scope?: vscode.Uri): ExtensionSettings {
    const configuration = vscode.workspace.getConfiguration(SETTINGS_SECTION, scope ?? primaryFolder());
    const { settings, problems } = readSettings((key) => configuration.get(key));
    for (const problem of problems) {
      if (this.loggedProblems.has(problem)) continue;
      this.loggedProblems.add(problem);
      this.output.warn(problem);
    }
    return settings;
  }

  serverSettings(scopeUri?: string): ServerSettings {
    return toServerSettings(this.settings(scopeUri ? vscode.Uri.parse(scopeUri) : undefined));
  }

  runningClient(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  restart(reason: string): Promise<void> {
    return this.enqueue(async () => {
      this.output.info(`Restarting the server: ${reason}`);
      await this.doStop();
      await this.doStart();
    });
  }

  /** Restarts only when the interpreter really changed (the Python extension fires for any folder). */
  restartIfInterpreterChanged(): Promise<void> {
    return this.enqueue(async () => {
      const next = await this.resolveInterpreter();
      if (this.client !== undefined && next.command === this.interpreter?.command) return;
      this.output.info(`Interpreter changed to ${next.command}`);
      await this.doStop();
      await this.doStart();
    });
  }

  /** Pushes changed server options; the server answers by pulling `workspace/configuration`. */
  notifySettingsChanged(): void {
    this.refreshStatus();
    const client = this.runningClient();
    if (client === undefined) return;
    client
      .sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [SETTINGS_SECTION]: this.serverSettings() },
      })
      .catch((error: unknown) => this.output.error(`Sending the new settings failed: ${String(error)}`));
  }

  refreshStatus(): void {
    const content = statusContent({
      state: this.state,
      settings: this.settings(),
      interpreter: this.interpreter
        ? `${this.interpreter.command} (${describeInterpreterSource(this.interpreter.source)})`
        : undefined,
      detail: this.detail,
    });
    this.status.text = content.text;
    this.status.tooltip = new vscode.MarkdownString(content.tooltip);
    this.status.backgroundColor =
      content.severity === "normal"
        ? undefined
        : new vscode.ThemeColor(
            content.severity === "error" ? "statusBarItem.errorBackground" : "statusBarItem.warningBackground",
          );
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.progress.dispose();
    this.status.dispose();
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    // Tasks report their own failures; this catch keeps the queue (and callers' `void`) going.
    this.queue = this.queue.then(task).catch((error: unknown) => this.output.error(String(error)));
    return this.queue;
  }

  private setState(state: ServerState, detail?: string): void {
    this.state = state;
    this.detail = detail;
    this.refreshStatus();
  }

  private async resolveInterpreter(): Promise<ResolvedInterpreter> {
    const folder = primaryFolder();
    return resolveInterpreter({
      fromPythonExtension: await pythonExtensionInterpreter(folder, this.output),
      fromSetting: this.settings().interpreter,
      platform: process.platform,
      workspaceFolder: folder?.fsPath,
      homeDir: os.homedir(),
    });
  }

  private async doStart(): Promise<void> {
    try {
      await this.startClient();
    } catch (error) {
      // E.g. the secret storage's keyring is unavailable: say so instead of staying "starting".
      this.failedToStart(error instanceof Error ? error.message : String(error));
    }
  }

  private async startClient(): Promise<void> {
    this.setState("starting");
    this.interpreter = await this.resolveInterpreter();
    const python = this.interpreter.command;
    const probe = await probeInterpreter(python, process.env);
    if (!probe.ok) {
      this.failedToStart(`${probe.reason} (interpreter from ${describeInterpreterSource(this.interpreter.source)})`);
      return;
    }
    const apiKey = await this.context.secrets.get(API_KEY_SECRET);
    const command = buildServerCommand(python, process.env, apiKey);
    this.output.info(
      `Starting ${formatCommandLine(command)} with Python ${probe.version} at ${probe.executable} ` +
        `(from ${describeInterpreterSource(this.interpreter.source)}; API key ${apiKey ? "set" : "not set"})`,
    );

    const serverOptions: ServerOptions = {
      command: command.command,
      args: command.args,
      transport: TransportKind.stdio,
      options: { env: command.env },
    };
    const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, this.clientOptions());
    client.onDidChangeState((event) => {
      if (client !== this.client) return;
      if (event.newState === State.Running) this.setState("ready");
      else if (event.newState === State.Starting) this.setState("starting");
      else {
        this.progress.endAll();
        if (this.stopping) this.setState("stopped");
        else this.setState("error", "the server stopped; see the output");
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.client = undefined;
      await client.dispose().catch(() => undefined);
      this.failedToStart(`the server did not start: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private failedToStart(reason: string): void {
    this.output.error(`Cannot start the MLOps server: ${reason}`);
    this.setState("error", reason);
    const actions = ["Show Output", "Open Settings"];
    if (vscode.extensions.getExtension(PYTHON_EXTENSION_ID)) actions.unshift("Select Interpreter");
    void vscode.window.showErrorMessage(`MLOps: cannot start the server: ${reason}.`, ...actions).then((choice) => {
      if (choice === "Select Interpreter") void vscode.commands.executeCommand("python.setInterpreter");
      else if (choice === "Open Settings") void vscode.commands.executeCommand("workbench.action.openSettings", SETTINGS_SECTION);
      else if (choice === "Show Output") this.output.show();
    });
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    if (client === undefined) {
      this.setState("stopped");
      return;
    }
    this.stopping = true;
    try {
      await client.dispose();
    } catch (error) {
      this.output.error(`Stopping the server failed: ${String(error)}`);
    } finally {
      this.stopping = false;
      this.client = undefined;
      this.progress.endAll();
      this.setState("stopped");
    }
  }

  private clientOptions(): LanguageClientOptions {
    return {
      documentSelector: [
        { scheme: "file", language: "python" },
        { scheme: "untitled", language: "python" },
      ],
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      // A function, so that the client's automatic restart after a crash sends the current settings.
      initializationOptions: () => this.serverSettings(),
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const fallback = await next(params, token);
            if (fallback instanceof ResponseError) return fallback;
            return answerConfiguration(params.items, fallback, (scopeUri) => this.serverSettings(scopeUri));
          },
        },
        handleWorkDoneProgress: (token, value, next) => this.progress.handle(token, value, () => next(token, value)),
      },
    };
  }
}

async function setApiKey(context: vscode.ExtensionContext): Promise<void> {
  const value = await vscode.window.showInputBox({
    title: "MLOps: Set API key",
    prompt:
      "API key of the model backend. Kept in VS Code's secret storage and given to the server as MLOPS_LSP_API_KEY. Leave empty to remove the stored key.",
    password: true,
    ignoreFocusOut: true,
  });
  if (value === undefined) return;
  const key = value.trim();
  // Storing or deleting fires secrets.onDidChange, which restarts the server with the new environment.
  if (key === "") {
    await context.secrets.delete(API_KEY_SECRET);
    void vscode.window.showInformationMessage("MLOps: API key removed.");
  } else {
    await context.secrets.store(API_KEY_SECRET, key);
    void vscode.window.showInformationMessage("MLOps: API key stored in the secret storage.");
  }
}

async function rebuildIndex(controller: ServerController): Promise<void> {
  const client = controller.runningClient();
  if (client === undefined) {
    const choice = await vscode.window.showWarningMessage("MLOps: the server is not running.", "Show Output");
    if (choice) controller.output.show();
    return;
  }
  if (!serverSupportsCommand(client.initializeResult?.capabilities, REBUILD_INDEX_COMMAND)) {
    void vscode.window.showWarningMessage(`MLOps: this server does not offer ${REBUILD_INDEX_COMMAND}.`);
    return;
  }
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: "MLOps: rebuilding the documentation index", cancellable: true },
    async (progress, cancellation) => {
      // Our own work-done token: the server reports into this notification instead of opening another.
      const token = `mlops-lsp/rebuildIndex/${randomUUID()}`;
      const claim = controller.progress.claim(token);
      const tracker = new ProgressTracker();
      const listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === "end") return;
        const step = tracker.step(value);
        if (step) progress.report(step);
      });
      try {
        const result: unknown = await client.sendRequest(
          ExecuteCommandRequest.type,
          { command: REBUILD_INDEX_COMMAND, arguments: [], workDoneToken: token },
          cancellation,
        );
        void vscode.window.showInformationMessage(
          `MLOps: ${summarizeCommandResult(result) ?? "documentation index rebuilt."}`,
        );
      } catch (error) {
        if (cancellation.isCancellationRequested) {
          void vscode.window.showInformationMessage("MLOps: rebuilding the documentation index was cancelled.");
          return;
        }
        const message = error instanceof Error ? error.message : String(error);
        controller.output.error(`Rebuilding the documentation index failed: ${message}`);
        void vscode.window.showErrorMessage(`MLOps: rebuilding the documentation index failed: ${message}`);
      } finally {
        listener.dispose();
        claim.dispose();
      }
    },
  );
}

let controller: ServerController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
  context.subscriptions.push(output);
  const server = new ServerController(context, output);
  controller = server;

  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.restart, () => server.restart("requested by the user")),
    vscode.commands.registerCommand(COMMANDS.rebuildIndex, () => rebuildIndex(server)),
    vscode.commands.registerCommand(COMMANDS.showOutput, () => output.show()),
    vscode.commands.registerCommand(COMMANDS.setApiKey, () => setApiKey(context)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      const change = classifyConfigurationChange((section) => event.affectsConfiguration(section));
      if (change === "restart") void server.restart("mlops-lsp.interpreter changed");
      else if (change === "notify") server.notifySettingsChanged();
    }),
    context.secrets.onDidChange((event) => {
      if (event.key === API_KEY_SECRET) void server.restart("the API key changed");
    }),
  );

  void onPythonEnvironmentChange(() => void server.restartIfInterpreterChanged(), output).then((listener) => {
    if (listener) context.subscriptions.push(listener);
  });
  void server.start();
}

export async function deactivate(): Promise<void> {
  const server = controller;
  controller = undefined;
  await server?.dispose();
}
