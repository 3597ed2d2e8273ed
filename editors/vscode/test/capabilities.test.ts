import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { REBUILD_INDEX_COMMAND, serverSupportsCommand, summarizeCommandResult } from "../src/capabilities";

describe("serverSupportsCommand", () => {
  it("looks the command up in executeCommandProvider", () => {
    const capabilities = { executeCommandProvider: { commands: ["mlops-lsp.applyAction", REBUILD_INDEX_COMMAND] } };
    assert.equal(serverSupportsCommand(capabilities, REBUILD_INDEX_COMMAND), true);
    assert.equal(serverSupportsCommand({ executeCommandProvider: { commands: ["mlops-lsp.applyAction"] } }, REBUILD_INDEX_COMMAND), false);
    assert.equal(serverSupportsCommand({}, REBUILD_INDEX_COMMAND), false);
    assert.equal(serverSupportsCommand(undefined, REBUILD_INDEX_COMMAND), false);
  });
});

describe("summarizeCommandResult", () => {
  it("uses a string result or a message field", () => {
    assert.equal(summarizeCommandResult(" indexed 120 chunks "), "indexed 120 chunks");
    assert.equal(summarizeCommandResult({ message: "indexed 3 libraries", chunks: 5 }), "indexed 3 libraries");
    assert.equal(summarizeCommandResult({ chunks: 5 }), undefined);
    assert.equal(summarizeCommandResult(null), undefined);
  });
});
