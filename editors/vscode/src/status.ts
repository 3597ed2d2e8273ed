/**
 * Status bar content: the server's state and the model in use. Pure logic, unit-tested without VS Code.
 */
import type { ExtensionSettings } from "./settings";

export type ServerState = "starting" | "ready" | "error" | "stopped";

export interface StatusContent {
  /** Status bar text; `$(name)` are VS Code codicons. */
  text: string;
  /** Markdown tooltip, one fact per line. */
  tooltip: string;
  /** Colours the item: warnings and errors must be noticed without hovering. */
  severity: "normal" | "warning" | "error";
}

const ICONS: Record<ServerState, string> = {
  starting: "$(loading~spin)",
  ready: "$(check)",
  error: "$(error)",
  stopped: "$(circle-slash)",
};

/**
 * A short name for a model SPEC: the backend plus the model's own name, without long paths or URLs.
 * `llama-cpp:/models/qwen2.5-7b.gguf` -> `llama-cpp:qwen2.5-7b.gguf`,
 * `openai-compatible:http://127.0.0.1:8000/v1#qwen` -> `openai-compatible:qwen`.
 */
export function shortModelName(spec: string): string {
  const colon = spec.indexOf(":");
  if (colon <= 0) return spec;
  const backend = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  const hash = rest.lastIndexOf("#");
  if (hash >= 0 && hash < rest.length - 1) return `${backend}:${rest.slice(hash + 1)}`;
  const lastSeparator = Math.max(rest.lastIndexOf("/"), rest.lastIndexOf("\\"));
  if (lastSeparator >= 0 && lastSeparator < rest.length - 1) return `${backend}:${rest.slice(lastSeparator + 1)}`;
  return spec;
}

/** What produces the adaptations with these settings, as shown in the status bar. */
export function engineLabel(settings: Pick<ExtensionSettings, "strategy" | "model">): string {
  if (settings.strategy === "codemod") return "codemod";
  if (settings.model === "") return settings.strategy === "llm" ? "no model set" : "codemod only";
  return shortModelName(settings.model);
}

function stateLine(state: ServerState, detail: string | undefined): string {
  const names: Record<ServerState, string> = {
    starting: "starting",
    ready: "ready",
    error: "error",
    stopped: "stopped",
  };
  return detail ? `Server: ${names[state]}: ${detail}` : `Server: ${names[state]}`;
}

function escapeMarkdown(text: string): string {
  return text.replace(/([\\`*_{}[\]()#+\-.!|<>])/g, "\\$1");
}

export interface StatusInputs {
  state: ServerState;
  settings: Pick<ExtensionSettings, "strategy" | "model" | "retrieval">;
  /** Interpreter command and where it came from, once known. */
  interpreter?: string;
  /** Why the server is in an error state, one line. */
  detail?: string;
}

export function statusContent(inputs: StatusInputs): StatusContent {
  const { state, settings } = inputs;
  const engine = engineLabel(settings);
  const text =
    state === "ready" ? `${ICONS.ready} MLOps: ${engine}` : `${ICONS[state]} MLOps: ${state}`;
  const lines = [
    escapeMarkdown(stateLine(state, inputs.detail)),
    escapeMarkdown(`Strategy: ${settings.strategy}`),
    escapeMarkdown(`Model: ${settings.model === "" ? "none (codemods only)" : settings.model}`),
    escapeMarkdown(`Retrieval: ${settings.retrieval}`),
  ];
  if (inputs.interpreter) lines.push(escapeMarkdown(`Interpreter: ${inputs.interpreter}`));
  lines.push("Click to show the output.");
  let severity: StatusContent["severity"] = "normal";
  if (state === "error") severity = "error";
  else if (state === "ready" && settings.strategy === "llm" && settings.model === "") severity = "warning";
  // Markdown line breaks: two trailing spaces would be eaten by editors, so use explicit paragraphs.
  return { text, tooltip: lines.join("\n\n"), severity };
}
