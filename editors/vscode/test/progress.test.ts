import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProgressTracker } from "../src/progress";

describe("ProgressTracker", () => {
  it("turns absolute percentages into increments", () => {
    const tracker = new ProgressTracker();
    assert.deepEqual(tracker.step({ kind: "begin", title: "t", percentage: 10, message: "retrieving" }), {
      message: "retrieving",
      increment: 10,
    });
    assert.deepEqual(tracker.step({ kind: "report", percentage: 45 }), { increment: 35 });
    assert.deepEqual(tracker.step({ kind: "report", percentage: 150, message: "validating" }), {
      message: "validating",
      increment: 55,
    });
  });

  it("never moves back and reports nothing when nothing changed", () => {
    const tracker = new ProgressTracker();
    tracker.step({ kind: "report", percentage: 60 });
    assert.equal(tracker.step({ kind: "report", percentage: 30 }), undefined);
    assert.equal(tracker.step({ kind: "report" }), undefined);
    assert.deepEqual(tracker.step({ kind: "report", percentage: 30, message: "repair 1/2" }), { message: "repair 1/2" });
  });

  it("passes messages of progress without percentages", () => {
    const tracker = new ProgressTracker();
    assert.equal(tracker.step({ kind: "begin", title: "Adapting" }), undefined);
    assert.deepEqual(tracker.step({ kind: "report", message: "calling the model" }), { message: "calling the model" });
  });
});
