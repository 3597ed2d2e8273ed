/**
 * Talks LSP to the real server, started exactly as the extension starts it, to check that what the
 * extension sends (initializationOptions, the workspace/configuration answer) is accepted as is.
 *
 * Needs a Python with mlops_lsp installed: MLOPS_LSP_TEST_PYTHON, else python3. Skipped, with the
 * reason, when that interpreter cannot run the server.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import {
  ConfigurationRequest,
  createProtocolConnection,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  ShowMessageNotification,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type ConfigurationParams,
} from "vscode-languageserver-protocol/node";
import { probeInterpreter } from "../src/probe";
import { buildServerCommand } from "../src/serverCommand";
import { answerConfiguration, readSettings, toServerSettings, type ServerSettings } from "../src/settings";

const python = process.env.MLOPS_LSP_TEST_PYTHON || "python3";

interface Session {
  shownMessages: string[];
  configurationRequests: ConfigurationParams[];
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One server session: initialize with `initializationOptions`, answer its configuration pull, shut down. */
async function runSession(initializationOptions: object, settingsAnswer: ServerSettings): Promise<Session> {
  const command = buildServerCommand(python, process.env, undefined);
  const child = spawn(command.command, command.args, { env: command.env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const session: Session = { shownMessages: [], configurationRequests: [] };
  connection.onNotification(ShowMessageNotification.type, (params) => session.shownMessages.push(params.message));
  connection.onRequest(ConfigurationRequest.type, (params) => {
    session.configurationRequests.push(params);
    // As in VS Code: the default handler's answer (here null) for sections that are not ours.
    return answerConfiguration(params.items, params.items.map(() => null), () => settingsAnswer);
  });
  connection.listen();
  try {
    await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      workspaceFolders: null,
      capabilities: { workspace: { configuration: true } },
      initializationOptions,
    });
    await connection.sendNotification(InitializedNotification.type, {});
    await waitFor(() => session.configurationRequests.length > 0, "the server's workspace/configuration request");
    // The server reports problems right after reading the answer; give that message time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await connection.sendRequest(ShutdownRequest.type);
    await connection.sendNotification(ExitNotification.type);
    assert.equal(await exited, 0, `server exit status; stderr:\n${stderr}`);
  } finally {
    connection.dispose();
    child.kill();
  }
  return session;
}

describe("the real server", async () => {
  const probe = await probeInterpreter(python, process.env);
  const skip = probe.ok ? false : `cannot run the server: ${probe.reason}`;

  it("accepts the extension's initializationOptions and configuration answer without a complaint", { skip, timeout: 60_000 }, async () => {
    const { settings } = readSettings((key) =>
      ({ strategy: "codemod", model: "openai:gpt-4o-mini", retrieval: "none", repairRounds: 3, timeout: 30 })[key as string],
    );
    const sent = toServerSettings(settings);
    const session = await runSession(sent, { ...sent, strategy: "auto", model: null });
    assert.deepEqual(session.shownMessages, []);
    assert.deepEqual(
      session.configurationRequests.flatMap((request) => request.items.map((item) => item.section)),
      ["mlops-lsp"],
    );
  });

  // The control: the same session does see a complaint about a key the server does not know.
  it("reports an unknown key, so the check above can fail", { skip, timeout: 60_000 }, async () => {
    const sent = toServerSettings(readSettings(() => undefined).settings);
    const session = await runSession({ ...sent, interpreter: "/usr/bin/python3" }, sent);
    assert.equal(session.shownMessages.length, 1, session.shownMessages.join("\n"));
    assert.match(session.shownMessages[0]!, /interpreter/);
  });
});
