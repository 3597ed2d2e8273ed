import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { engineLabel, shortModelName, statusContent } from "../src/status";

const settings = { strategy: "auto" as const, model: "openai:gpt-4o-mini", retrieval: "docprompt" as const };

describe("statusContent", () => {
  it("shows the model when ready", () => {
    const content = statusContent({ state: "ready", settings });
    assert.equal(content.text, "$(check) MLOps: openai:gpt-4o-mini");
    assert.equal(content.severity, "normal");
    assert.match(content.tooltip, /Server: ready/);
    assert.match(content.tooltip, /Model: openai:gpt\\-4o\\-mini/);
  });

  it("shows the state while starting, on error and when stopped", () => {
    assert.equal(statusContent({ state: "starting", settings }).text, "$(loading~spin) MLOps: starting");
    assert.equal(statusContent({ state: "stopped", settings }).text, "$(circle-slash) MLOps: stopped");
    const error = statusContent({ state: "error", settings, detail: "python3 was not found" });
    assert.equal(error.text, "$(error) MLOps: error");
    assert.equal(error.severity, "error");
    assert.match(error.tooltip, /Server: error: python3 was not found/);
  });

  it("names the interpreter in the tooltip when known", () => {
    const content = statusContent({ state: "ready", settings, interpreter: "/envs/a/bin/python (the default command)" });
    assert.match(content.tooltip, /Interpreter: \/envs\/a\/bin\/python \\\(the default command\\\)/);
  });

  it("warns when the llm strategy has no model", () => {
    const content = statusContent({ state: "ready", settings: { ...settings, strategy: "llm", model: "" } });
    assert.equal(content.text, "$(check) MLOps: no model set");
    assert.equal(content.severity, "warning");
  });
});

describe("engineLabel", () => {
  it("says codemod when no model is involved", () => {
    assert.equal(engineLabel({ strategy: "codemod", model: "openai:gpt-4o" }), "codemod");
    assert.equal(engineLabel({ strategy: "auto", model: "" }), "codemod only");
  });
});

describe("shortModelName", () => {
  it("keeps the backend and the model's own name", () => {
    assert.equal(shortModelName("openai:gpt-4o-mini"), "openai:gpt-4o-mini");
    assert.equal(shortModelName("llama-cpp:/models/qwen2.5-7b.gguf"), "llama-cpp:qwen2.5-7b.gguf");
    assert.equal(shortModelName("llama-cpp:C:\\models\\q.gguf"), "llama-cpp:q.gguf");
    assert.equal(shortModelName("openai-compatible:http://127.0.0.1:8000/v1#qwen"), "openai-compatible:qwen");
    assert.equal(shortModelName("no-backend"), "no-backend");
  });
});
