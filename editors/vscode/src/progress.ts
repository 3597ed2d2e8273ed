/**
 * Translates LSP work-done progress (absolute percentages) into VS Code progress reports
 * (increments). Pure logic, unit-tested without VS Code.
 */

export interface WorkDoneBegin {
  kind: "begin";
  title: string;
  cancellable?: boolean;
  message?: string;
  percentage?: number;
}

export interface WorkDoneReport {
  kind: "report";
  cancellable?: boolean;
  message?: string;
  percentage?: number;
}

export interface WorkDoneEnd {
  kind: "end";
  message?: string;
}

export type WorkDoneValue = WorkDoneBegin | WorkDoneReport | WorkDoneEnd;

/** One `Progress.report` call; undefined fields are left out of the call. */
export interface ProgressStep {
  message?: string;
  increment?: number;
}

/** Tracks one progress token: LSP sends "40%", VS Code wants "+15". */
export class ProgressTracker {
  private reported = 0;

  /** The VS Code step for a begin or report value; undefined when there is nothing to show. */
  step(value: WorkDoneBegin | WorkDoneReport): ProgressStep | undefined {
    const step: ProgressStep = {};
    if (typeof value.message === "string" && value.message !== "") step.message = value.message;
    if (typeof value.percentage === "number" && Number.isFinite(value.percentage)) {
      const percentage = Math.max(0, Math.min(100, value.percentage));
      // The bar never moves back: a server that reports a lower percentage keeps the old position.
      const increment = Math.max(0, percentage - this.reported);
      this.reported += increment;
      if (increment > 0) step.increment = increment;
    }
    return step.message === undefined && step.increment === undefined ? undefined : step;
  }
}
