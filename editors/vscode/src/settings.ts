/**
 * The extension's settings (section "mlops-lsp") and the options object the server receives.
 *
 * Pure logic: no `vscode` import, so it is unit-tested with plain `node --test`.
 */

export const SETTINGS_SECTION = "mlops-lsp";

export const STRATEGIES = ["codemod", "llm", "auto"] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const RETRIEVALS = ["none", "docprompt", "docs-search", "llm-search", "llm-docs-search"] as const;
export type Retrieval = (typeof RETRIEVALS)[number];

/** Every setting the extension contributes (package.json `contributes.configuration`), minus `trace.server`. */
export interface ExtensionSettings {
  strategy: Strategy;
  /** Model SPEC such as "openai:gpt-4o-mini"; "" means no model. */
  model: string;
  retrieval: Retrieval;
  repairRounds: number;
  /** Seconds one model-backed action may take. */
  timeout: number;
  /** Interpreter path used when the Python extension has none; "" means the platform default. */
  interpreter: string;
}

/**
 * What the server reads from `initializationOptions` and from `workspace/configuration`
 * (section "mlops-lsp"). It names only keys the server knows: the server reports unknown keys,
 * and `interpreter` is the client's business.
 */
export interface ServerSettings {
  strategy: Strategy;
  model: string | null;
  retrieval: Retrieval;
  repairRounds: number;
  timeout: number;
}

export const SERVER_SETTING_KEYS = ["strategy", "model", "retrieval", "repairRounds", "timeout"] as const;
export type ServerSettingKey = (typeof SERVER_SETTING_KEYS)[number];

export const DEFAULT_SETTINGS: Readonly<ExtensionSettings> = Object.freeze({
  strategy: "auto",
  model: "",
  retrieval: "docprompt",
  repairRounds: 2,
  timeout: 120,
  interpreter: "",
});

export interface ReadSettingsResult {
  settings: ExtensionSettings;
  /** One line per invalid value, which was replaced by its default. */
  problems: string[];
}

/** Reads a setting by its key inside the section, e.g. `lookup("strategy")`; undefined when unset. */
export type SettingLookup = (key: keyof ExtensionSettings) => unknown;

function oneOf<T extends string>(allowed: readonly T[], value: unknown): value is T {
  return typeof value === "string" && (allowed as readonly string[]).includes(value);
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/**
 * Reads and validates the settings. VS Code validates `settings.json` against the schema only in the
 * editor UI, so a hand-edited wrong value reaches us: it is reported and replaced by the default,
 * rather than sent to the server or silently dropped.
 */
export function readSettings(lookup: SettingLookup): ReadSettingsResult {
  const problems: string[] = [];
  const settings: ExtensionSettings = { ...DEFAULT_SETTINGS };
  const invalid = (key: keyof ExtensionSettings, value: unknown, expected: string): void => {
    problems.push(
      `${SETTINGS_SECTION}.${key}: ${describe(value)} is not ${expected}; using ${describe(DEFAULT_SETTINGS[key])}`,
    );
  };

  const strategy = lookup("strategy");
  if (strategy !== undefined) {
    if (oneOf(STRATEGIES, strategy)) settings.strategy = strategy;
    else invalid("strategy", strategy, `one of ${STRATEGIES.join(", ")}`);
  }

  const model = lookup("model");
  if (model !== undefined && model !== null) {
    if (typeof model === "string") settings.model = model.trim();
    else invalid("model", model, "a string");
  }

  const retrieval = lookup("retrieval");
  if (retrieval !== undefined) {
    if (oneOf(RETRIEVALS, retrieval)) settings.retrieval = retrieval;
    else invalid("retrieval", retrieval, `one of ${RETRIEVALS.join(", ")}`);
  }

  const repairRounds = lookup("repairRounds");
  if (repairRounds !== undefined) {
    if (typeof repairRounds === "number" && Number.isInteger(repairRounds) && repairRounds >= 0) {
      settings.repairRounds = repairRounds;
    } else {
      invalid("repairRounds", repairRounds, "a whole number >= 0");
    }
  }

  const timeout = lookup("timeout");
  if (timeout !== undefined) {
    if (typeof timeout === "number" && Number.isFinite(timeout) && timeout > 0) settings.timeout = timeout;
    else invalid("timeout", timeout, "a number of seconds > 0");
  }

  const interpreter = lookup("interpreter");
  if (interpreter !== undefined && interpreter !== null) {
    if (typeof interpreter === "string") settings.interpreter = interpreter.trim();
    else invalid("interpreter", interpreter, "a string");
  }

  return { settings, problems };
}

/** The options sent as `initializationOptions` and as the answer to `workspace/configuration`. */
export function toServerSettings(settings: ExtensionSettings): ServerSettings {
  return {
    strategy: settings.strategy,
    // The server's "no model" is null; an empty string in settings.json means the same.
    model: settings.model === "" ? null : settings.model,
    retrieval: settings.retrieval,
    repairRounds: settings.repairRounds,
    timeout: settings.timeout,
  };
}

export interface ConfigurationItem {
  section?: string;
  scopeUri?: string;
}

/**
 * Answers a `workspace/configuration` request. Items for section "mlops-lsp" (or one of its server
 * keys, "mlops-lsp.model") get the validated server settings; every other item keeps the answer
 * VS Code's default handler gave (`fallback`, same order as `items`).
 */
export function answerConfiguration(
  items: readonly ConfigurationItem[],
  fallback: readonly unknown[],
  serverSettingsFor: (scopeUri: string | undefined) => ServerSettings,
): unknown[] {
  return items.map((item, index) => {
    const section = item.section;
    if (section === SETTINGS_SECTION) {
      return serverSettingsFor(item.scopeUri);
    }
    const prefix = `${SETTINGS_SECTION}.`;
    if (section !== undefined && section.startsWith(prefix)) {
      const key = section.slice(prefix.length);
      if ((SERVER_SETTING_KEYS as readonly string[]).includes(key)) {
        return serverSettingsFor(item.scopeUri)[key as ServerSettingKey];
      }
    }
    return fallback[index] ?? null;
  });
}

export type ConfigurationChange = "restart" | "notify" | "ignore";

/**
 * What a settings change requires: a new interpreter needs a new server process; a server option
 * is pushed with `workspace/didChangeConfiguration`; anything else (trace, other sections) is not ours.
 */
export function classifyConfigurationChange(affects: (section: string) => boolean): ConfigurationChange {
  if (affects(`${SETTINGS_SECTION}.interpreter`)) return "restart";
  if (SERVER_SETTING_KEYS.some((key) => affects(`${SETTINGS_SECTION}.${key}`))) return "notify";
  return "ignore";
}
