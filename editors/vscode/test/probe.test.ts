import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import { interpretProbe, probeInterpreter } from "../src/probe";

function pythonOnPath(): string | undefined {
  for (const candidate of ["python3", "python"]) {
    try {
      execFileSync(candidate, ["-c", "import sys; assert sys.version_info >= (3, 11)"], { stdio: "ignore" });
      return candidate;
    } catch {
      // not installed, or too old: try the next name
    }
  }
  return undefined;
}

describe("interpretProbe", () => {
  const ok = (found: boolean, version = [3, 11]) => ({
    stdout: JSON.stringify({ version, executable: "/e/bin/python", found }) + "\n",
    stderr: "",
  });

  it("accepts an interpreter that has the module", () => {
    assert.deepEqual(interpretProbe("py", ok(true, [3, 12])), { ok: true, version: "3.12", executable: "/e/bin/python" });
  });

  it("explains a missing module, an old Python and a missing interpreter", () => {
    assert.deepEqual(interpretProbe("py", ok(false)), { ok: false, reason: "the mlops_lsp module is not installed for py" });
    assert.deepEqual(interpretProbe("py", ok(true, [3, 10])), {
      ok: false,
      reason: "py is Python 3.10; mlops-lsp needs 3.11 or newer",
    });
    assert.deepEqual(interpretProbe("py", { error: { code: "ENOENT", message: "spawn py ENOENT" }, stdout: "", stderr: "" }), {
      ok: false,
      reason: "py was not found",
    });
  });

  it("reports the last line of a failing interpreter's stderr", () => {
    const run = { error: { code: 1, message: "Command failed" }, stdout: "", stderr: "Traceback\nImportError: boom\n" };
    assert.deepEqual(interpretProbe("py", run), { ok: false, reason: "py failed: ImportError: boom" });
  });

  it("rejects a program that is not Python", () => {
    const result = interpretProbe("/bin/echo", { stdout: "-c something\n", stderr: "" });
    assert.equal(result.ok, false);
  });
});

describe("probeInterpreter (real processes)", () => {
  it("reports an interpreter that does not exist", async () => {
    const missing = path.join(__dirname, "no-such-python");
    assert.deepEqual(await probeInterpreter(missing, process.env), { ok: false, reason: `${missing} was not found` });
  });

  const python = pythonOnPath();
  it("finds a standard module and misses an absent one", { skip: python === undefined && "no Python >= 3.11 on PATH" }, async () => {
    const found = await probeInterpreter(python!, process.env, "json");
    assert.equal(found.ok, true);
    const missing = await probeInterpreter(python!, process.env, "mlops_lsp_no_such_module");
    assert.deepEqual(missing, { ok: false, reason: `the mlops_lsp_no_such_module module is not installed for ${python}` });
  });
});
