import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  answerConfiguration,
  classifyConfigurationChange,
  DEFAULT_SETTINGS,
  readSettings,
  toServerSettings,
  type ExtensionSettings,
} from "../src/settings";

/** A lookup over a plain object, the way `WorkspaceConfiguration.get` answers for set and unset keys. */
function lookupFrom(values: Partial<Record<keyof ExtensionSettings, unknown>>) {
  return (key: keyof ExtensionSettings): unknown => values[key];
}

describe("readSettings", () => {
  it("gives the documented defaults when nothing is set", () => {
    const { settings, problems } = readSettings(lookupFrom({}));
    assert.deepEqual(settings, {
      strategy: "auto",
      model: "",
      retrieval: "docprompt",
      repairRounds: 2,
      timeout: 120,
      interpreter: "",
    });
    assert.deepEqual(problems, []);
  });

  it("keeps valid values and trims strings", () => {
    const { settings, problems } = readSettings(
      lookupFrom({
        strategy: "llm",
        model: "  openai:gpt-4o-mini ",
        retrieval: "llm-docs-search",
        repairRounds: 0,
        timeout: 12.5,
        interpreter: " ~/venv/bin/python ",
      }),
    );
    assert.deepEqual(settings, {
      strategy: "llm",
      model: "openai:gpt-4o-mini",
      retrieval: "llm-docs-search",
      repairRounds: 0,
      timeout: 12.5,
      interpreter: "~/venv/bin/python",
    });
    assert.deepEqual(problems, []);
  });

  it("replaces each invalid value by its default and names it", () => {
    const { settings, problems } = readSettings(
      lookupFrom({ strategy: "magic", model: 42, retrieval: "google", repairRounds: 1.5, timeout: -3, interpreter: [] }),
    );
    assert.deepEqual(settings, DEFAULT_SETTINGS);
    assert.equal(problems.length, 6);
    assert.match(problems[0]!, /^mlops-lsp\.strategy: "magic" is not one of codemod, llm, auto; using "auto"$/);
    assert.ok(problems.some((line) => line.startsWith("mlops-lsp.repairRounds: 1.5 ")));
    assert.ok(problems.some((line) => line.startsWith("mlops-lsp.timeout: -3 ")));
  });

  it("rejects a non-finite timeout and a negative repair count", () => {
    const { settings, problems } = readSettings(lookupFrom({ timeout: Number.POSITIVE_INFINITY, repairRounds: -1 }));
    assert.equal(settings.timeout, 120);
    assert.equal(settings.repairRounds, 2);
    assert.equal(problems.length, 2);
  });
});

describe("toServerSettings", () => {
  it("maps the defaults to the server's options, model null, without the interpreter", () => {
    assert.deepEqual(toServerSettings({ ...DEFAULT_SETTINGS, interpreter: "/usr/bin/python3" }), {
      strategy: "auto",
      model: null,
      retrieval: "docprompt",
      repairRounds: 2,
      timeout: 120,
    });
  });

  it("passes a model spec through unchanged", () => {
    const server = toServerSettings({ ...DEFAULT_SETTINGS, strategy: "llm", model: "llama-cpp:/m/q.gguf" });
    assert.equal(server.model, "llama-cpp:/m/q.gguf");
    assert.equal(server.strategy, "llm");
    assert.ok(!("interpreter" in server));
  });
});

describe("answerConfiguration", () => {
  const byScope = (scopeUri: string | undefined) =>
    toServerSettings({ ...DEFAULT_SETTINGS, model: scopeUri === "file:///b" ? "openai:b" : "" });

  it("answers the whole section with the server settings for the item's scope", () => {
    const answer = answerConfiguration(
      [{ section: "mlops-lsp" }, { section: "mlops-lsp", scopeUri: "file:///b" }],
      [{ interpreter: "x", trace: {} }, { interpreter: "y" }],
      byScope,
    );
    assert.deepEqual(answer, [byScope(undefined), byScope("file:///b")]);
    assert.ok(!("interpreter" in (answer[0] as object)));
  });

  it("answers a single server key and leaves other sections to the default handler", () => {
    const answer = answerConfiguration(
      [{ section: "mlops-lsp.model", scopeUri: "file:///b" }, { section: "python" }, { section: "mlops-lsp.trace" }, {}],
      ["raw", { analysis: 1 }, { server: "off" }, undefined],
      byScope,
    );
    assert.deepEqual(answer, ["openai:b", { analysis: 1 }, { server: "off" }, null]);
  });
});

describe("classifyConfigurationChange", () => {
  const affecting = (...sections: string[]) => (section: string) => sections.includes(section);

  it("restarts for a new interpreter, even with other changes", () => {
    assert.equal(classifyConfigurationChange(affecting("mlops-lsp.interpreter", "mlops-lsp.model")), "restart");
  });

  it("notifies the server for each server option", () => {
    for (const key of ["strategy", "model", "retrieval", "repairRounds", "timeout"]) {
      assert.equal(classifyConfigurationChange(affecting(`mlops-lsp.${key}`)), "notify", key);
    }
  });

  it("ignores trace and other extensions' settings", () => {
    assert.equal(classifyConfigurationChange(affecting("mlops-lsp.trace.server")), "ignore");
    assert.equal(classifyConfigurationChange(affecting("python.defaultInterpreterPath")), "ignore");
  });
});
