import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultPythonCommand, expandSettingPath, resolveInterpreter, type InterpreterInputs } from "../src/interpreter";

const base: InterpreterInputs = {
  fromPythonExtension: undefined,
  fromSetting: "",
  platform: "linux",
  workspaceFolder: "/work/project",
  homeDir: "/home/ada",
};

describe("resolveInterpreter", () => {
  it("prefers the Python extension's environment over the setting", () => {
    const resolved = resolveInterpreter({ ...base, fromPythonExtension: "/envs/a/bin/python", fromSetting: "/usr/bin/python3.12" });
    assert.deepEqual(resolved, { command: "/envs/a/bin/python", source: "python-extension" });
  });

  it("uses the setting when the Python extension has no environment", () => {
    for (const fromPythonExtension of [undefined, "", "   "]) {
      const resolved = resolveInterpreter({ ...base, fromPythonExtension, fromSetting: "/usr/bin/python3.12" });
      assert.deepEqual(resolved, { command: "/usr/bin/python3.12", source: "setting" });
    }
  });

  it("falls back to python3, or python on Windows", () => {
    assert.deepEqual(resolveInterpreter({ ...base, fromSetting: "  " }), { command: "python3", source: "default" });
    assert.deepEqual(resolveInterpreter({ ...base, platform: "win32" }), { command: "python", source: "default" });
    assert.equal(defaultPythonCommand("darwin"), "python3");
  });

  it("expands ${workspaceFolder} and ~ in the setting", () => {
    assert.equal(
      resolveInterpreter({ ...base, fromSetting: "${workspaceFolder}/.venv/bin/python" }).command,
      "/work/project/.venv/bin/python",
    );
    assert.equal(resolveInterpreter({ ...base, fromSetting: "~/venv/bin/python" }).command, "/home/ada/venv/bin/python");
  });
});

describe("expandSettingPath", () => {
  it("leaves ${workspaceFolder} alone without a folder, and ~user paths alone", () => {
    assert.equal(expandSettingPath("${workspaceFolder}/py", undefined, "/h"), "${workspaceFolder}/py");
    assert.equal(expandSettingPath("~bob/python", "/w", "/h"), "~bob/python");
    assert.equal(expandSettingPath("${userHome}/py", "/w", "/h"), "/h/py");
    assert.equal(expandSettingPath("~\\py.exe", "/w", "C:\\Users\\a"), "C:\\Users\\a\\py.exe");
  });
});
