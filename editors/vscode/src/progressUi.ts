/**
 * Shows the server's work-done progress as a notification with a Cancel button.
 *
 * vscode-languageclient answers `window/workDoneProgress/create` itself, but renders the progress in
 * the status bar (ProgressLocation.Window), where VS Code shows no Cancel button. This middleware
 * takes over the rendering; cancelling sends `window/workDoneProgress/cancel` for the token.
 */
import * as vscode from "vscode";
import type { ProgressToken } from "vscode-languageclient/node";
import { ProgressTracker, type WorkDoneValue } from "./progress";

interface ActiveProgress {
  readonly tracker: ProgressTracker;
  /** Set once `withProgress` has called back. */
  reporter: vscode.Progress<{ message?: string; increment?: number }> | undefined;
  /** Steps reported before the notification existed. */
  readonly pending: { message?: string; increment?: number }[];
  finish: () => void;
}

export class NotificationProgress implements vscode.Disposable {
  private readonly active = new Map<ProgressToken, ActiveProgress>();
  /** Tokens whose progress a command of this extension renders itself (e.g. rebuilding the index). */
  private readonly ownTokens = new Set<ProgressToken>();

  constructor(private readonly cancel: (token: ProgressToken) => void) {}

  /** The `middleware.handleWorkDoneProgress` hook of the language client. */
  handle(token: ProgressToken, value: WorkDoneValue, next: () => void): void {
    if (this.ownTokens.has(token)) {
      next();
      return;
    }
    switch (value.kind) {
      case "begin":
        this.begin(token, value.title, value.cancellable === true, value);
        break;
      case "report": {
        const progress = this.active.get(token);
        const step = progress?.tracker.step(value);
        if (progress && step) this.report(progress, step);
        break;
      }
      case "end":
        this.end(token);
        // Lets the client's own progress part release its listener for the token.
        next();
        break;
    }
  }

  /** Routes `token`'s progress to the caller's own handler instead of a new notification. */
  claim(token: ProgressToken): vscode.Disposable {
    this.ownTokens.add(token);
    return new vscode.Disposable(() => this.ownTokens.delete(token));
  }

  /** Closes every notification: the server that would end them has stopped. */
  endAll(): void {
    for (const token of [...this.active.keys()]) this.end(token);
  }

  dispose(): void {
    this.endAll();
  }

  private begin(token: ProgressToken, title: string, cancellable: boolean, first: WorkDoneValue & { kind: "begin" }): void {
    if (this.active.has(token)) return;
    const progress: ActiveProgress = {
      tracker: new ProgressTracker(),
      reporter: undefined,
      pending: [],
      finish: () => undefined,
    };
    this.active.set(token, progress);
    const firstStep = progress.tracker.step(first);
    if (firstStep) progress.pending.push(firstStep);
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable },
      (reporter, cancellation) =>
        new Promise<void>((resolve) => {
          if (!this.active.has(token)) {
            resolve();
            return;
          }
          progress.reporter = reporter;
          for (const step of progress.pending.splice(0)) reporter.report(step);
          const onCancel = cancellation.onCancellationRequested(() => this.cancel(token));
          progress.finish = () => {
            onCancel.dispose();
            resolve();
          };
        }),
    );
  }

  private report(progress: ActiveProgress, step: { message?: string; increment?: number }): void {
    if (progress.reporter) progress.reporter.report(step);
    else progress.pending.push(step);
  }

  private end(token: ProgressToken): void {
    const progress = this.active.get(token);
    if (progress === undefined) return;
    this.active.delete(token);
    progress.finish();
  }
}
