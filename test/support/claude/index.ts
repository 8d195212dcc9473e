/**
 * A stand-in `claude` executable for tests: it parses argv like Claude Code's CLI and writes its
 * headless stream-json output (https://docs.claude.com/en/docs/claude-code/headless) without any
 * network. Put {@link CLAUDE_STANDIN_DIR} first on `PATH` and choose behaviour with the
 * {@link CLAUDE_DIRECTIVES} markers in the prompt. See README.md beside this file.
 */
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the folder holding the `claude` stand-in, to put first on `PATH`. */
export const CLAUDE_STANDIN_DIR = dirname(fileURLToPath(import.meta.url));

/** Absolute path of the stand-in executable itself. */
export const CLAUDE_STANDIN_PATH = join(CLAUDE_STANDIN_DIR, 'claude');

/** What the stand-in reports as `claude_code_version` and prints for `--version`. */
export const CLAUDE_STANDIN_VERSION = '2.1.332-standin';

/** The model reported when no `--model` is given. */
export const CLAUDE_STANDIN_DEFAULT_MODEL = 'claude-sonnet-4-5-20250929';

/** `total_cost_usd` of every successful (or max-turns) run. */
export const CLAUDE_STANDIN_COST_USD = 0.0123;

/** Markers that, found anywhere in the prompt, choose the stand-in's behaviour. */
export const CLAUDE_DIRECTIVES = {
  /** A tool round: assistant `tool_use` (Bash `ls`), user `tool_result`, final assistant text. 2 turns. */
  tool: '[tool]',
  /** Init and one assistant message, then no more output until the process is killed. */
  hang: '[hang]',
  /** Everything but the result message; exit 0. */
  noResult: '[no-result]',
  /** The model keeps calling tools: `--max-turns N` (default 1) tool turns, then `error_max_turns`; exit 1. */
  maxTurns: '[max-turns]',
  /** A synthetic `API Error: …` assistant message and a `success` result with `is_error: true`; exit 1. */
  apiError: '[api-error]',
  /** The first assistant line is written in two writes, 50 ms apart. */
  split: '[split]',
  /** 100 ms between messages. */
  slow: '[slow]',
  /** One line on stderr after the init message. */
  stderr: '[stderr]',
  /** One plain, non-JSON line on stdout after the init message. */
  notJson: '[not-json]',
} as const;

/** The `[lines:N]` directive: N assistant text messages in the first turn. */
export function linesDirective(n: number): string {
  return `[lines:${n}]`;
}

/** The `[flood:N]` directive: one line of N `x` bytes on stdout after init, its newline only at the end. */
export function floodDirective(bytes: number): string {
  return `[flood:${bytes}]`;
}

/** The `[record:PATH]` directive: every byte written on stdout is also appended to the file `path` (absolute). */
export function recordDirective(path: string): string {
  return `[record:${path}]`;
}

/** The text the first assistant message of a new session carries for `prompt`. */
export function standinEcho(prompt: string): string {
  return `You said: ${prompt}`;
}

/** The text the first assistant message of a resumed session carries. */
export function standinResumedEcho(prompt: string, previousPrompt: string): string {
  return `You said: ${prompt} (resumed conversation; previous prompt: ${previousPrompt})`;
}

/** Exact outputs of the directives, for whole-payload assertions. */
export const CLAUDE_STANDIN_TEXT = {
  stderrLine: 'claude-standin: a line on stderr',
  notJsonLine: 'claude-standin: a line that is not JSON',
  apiError: 'API Error: Connection error.',
  toolOutput: 'README.md\n',
  toolFinal: 'The command printed README.md.',
  verboseRequired: 'Error: When using --print, --output-format=stream-json requires --verbose',
} as const;

/**
 * Environment for spawning the stand-in as `claude`: `PATH` with {@link CLAUDE_STANDIN_DIR}
 * first and `CLAUDE_STANDIN_STATE` set to `stateDir` (where sessions are kept).
 */
export function claudeStandinEnv(stateDir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    PATH: base.PATH ? `${CLAUDE_STANDIN_DIR}${delimiter}${base.PATH}` : CLAUDE_STANDIN_DIR,
    CLAUDE_STANDIN_STATE: stateDir,
  };
}

/** One saved session of the stand-in. */
export interface StandinSession {
  sessionId: string;
  cwd: string;
  /** ISO time the session began. */
  createdAt: string;
  /** Epoch milliseconds of the last write; `--continue` takes the greatest. */
  updatedAt: number;
  /** Turns so far, over every run of the session (what `num_turns` reports). */
  turns: number;
  /** Every prompt, oldest first. */
  prompts: string[];
  /** Every run, with the argv it was given (to check what a server passed). */
  runs: { argv: string[]; prompt: string; at: string }[];
}

/** Where the stand-in keeps a session: `<stateDir>/projects/<cwd, non-alphanumerics as "-">/<id>.json`. */
export function standinSessionPath(stateDir: string, cwd: string, sessionId: string): string {
  return join(stateDir, 'projects', cwd.replace(/[^a-zA-Z0-9]/g, '-'), `${sessionId}.json`);
}

/** Reads a session the stand-in saved, or `undefined` if there is none. */
export function readStandinSession(stateDir: string, cwd: string, sessionId: string): StandinSession | undefined {
  try {
    return JSON.parse(readFileSync(standinSessionPath(stateDir, cwd, sessionId), 'utf8')) as StandinSession;
  } catch {
    return undefined;
  }
}
