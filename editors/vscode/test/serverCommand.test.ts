import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildServerCommand, formatCommandLine, serverEnvironment } from "../src/serverCommand";

describe("buildServerCommand", () => {
  it("runs the module's serve command with the chosen interpreter", () => {
    const command = buildServerCommand("/envs/a/bin/python", { PATH: "/usr/bin" }, undefined);
    assert.equal(command.command, "/envs/a/bin/python");
    assert.deepEqual(command.args, ["-m", "mlops_lsp", "serve"]);
    assert.deepEqual(command.env, { PATH: "/usr/bin" });
  });

  it("formats a command line with quoting, without the environment", () => {
    const command = buildServerCommand("C:\\Program Files\\Python\\python.exe", {}, "secret");
    assert.equal(formatCommandLine(command), '"C:\\\\Program Files\\\\Python\\\\python.exe" -m mlops_lsp serve');
    assert.ok(!formatCommandLine(command).includes("secret"));
  });
});

describe("serverEnvironment", () => {
  it("passes the API key as MLOPS_LSP_API_KEY and OPENAI_API_KEY when unset", () => {
    const env = serverEnvironment({ PATH: "/bin", HOME: undefined }, "sk-123");
    assert.deepEqual(env, { PATH: "/bin", MLOPS_LSP_API_KEY: "sk-123", OPENAI_API_KEY: "sk-123" });
  });

  it("keeps the user's own OPENAI_API_KEY", () => {
    const env = serverEnvironment({ OPENAI_API_KEY: "mine" }, "sk-123");
    assert.equal(env.OPENAI_API_KEY, "mine");
    assert.equal(env.MLOPS_LSP_API_KEY, "sk-123");
  });

  it("adds nothing without a key and does not modify its input", () => {
    const base = { PATH: "/bin" };
    const env = serverEnvironment(base, undefined);
    env.EXTRA = "x";
    assert.deepEqual(env, { PATH: "/bin", EXTRA: "x" });
    assert.deepEqual(base, { PATH: "/bin" });
    assert.ok(!("MLOPS_LSP_API_KEY" in serverEnvironment({}, "")));
  });
});
