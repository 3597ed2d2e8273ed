/** package.json is what VS Code shows and validates: it must agree with the code that reads it. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { DEFAULT_SETTINGS, RETRIEVALS, SETTINGS_SECTION, STRATEGIES } from "../src/settings";

interface Property {
  default?: unknown;
  enum?: unknown[];
  description?: string;
  markdownDescription?: string;
}

// Compiled to out/test/, so the manifest is two levels up.
const manifest = JSON.parse(readFileSync(path.resolve(__dirname, "../../package.json"), "utf8")) as {
  main: string;
  activationEvents: string[];
  contributes: { commands: { command: string; title: string; category: string }[]; configuration: { properties: Record<string, Property> } };
};
const properties = manifest.contributes.configuration.properties;

describe("package.json", () => {
  it("contributes every setting with the code's default and a description", () => {
    for (const [key, value] of Object.entries(DEFAULT_SETTINGS)) {
      const property = properties[`${SETTINGS_SECTION}.${key}`];
      assert.ok(property, `mlops-lsp.${key} is contributed`);
      assert.deepEqual(property.default, value, `default of mlops-lsp.${key}`);
      assert.ok(property.description ?? property.markdownDescription, `mlops-lsp.${key} has a description`);
    }
  });

  it("lists the same choices as the code", () => {
    assert.deepEqual(properties["mlops-lsp.strategy"]?.enum, [...STRATEGIES]);
    assert.deepEqual(properties["mlops-lsp.retrieval"]?.enum, [...RETRIEVALS]);
  });

  it("never has a setting for the API key", () => {
    assert.ok(Object.keys(properties).every((key) => !/key|token|secret/i.test(key)));
  });

  it("contributes the four MLOps commands", () => {
    const titles = manifest.contributes.commands.map((command) => `${command.category}: ${command.title}`).sort();
    assert.deepEqual(titles, [
      "MLOps: Rebuild documentation index",
      "MLOps: Restart server",
      "MLOps: Set API key",
      "MLOps: Show output",
    ]);
  });

  it("activates on Python files and points at the bundle", () => {
    assert.deepEqual(manifest.activationEvents, ["onLanguage:python"]);
    assert.equal(manifest.main, "./dist/extension.js");
  });
});
