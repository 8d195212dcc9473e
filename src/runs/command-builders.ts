/** Builders of the argv each kind of command runs; no shell is involved except in `runShell`. */

/** `runShell`: the command line, interpreted by `sh -c`. */
export function shellArgv(command: string): string[] {
  return ['sh', '-c', command];
}

/** `runGit`: git and its arguments, as given. */
export function gitArgv(args: readonly string[]): string[] {
  return ['git', ...args];
}

/** What a Claude run asks for. */
export interface ClaudeOptions {
  prompt: string;
  sessionId?: string | null | undefined;
  continueSession?: boolean | null | undefined;
  model?: string | null | undefined;
  allowedTools?: readonly string[] | null | undefined;
  maxTurns?: number | null | undefined;
  permissionMode?: ClaudePermissionMode | null | undefined;
}

/**
 * The CLI's `--permission-mode` choices that make sense headless. In `-p` mode nobody can answer
 * a permission prompt, so a tool that needs one is denied; `acceptEdits` (the default here) lets
 * Claude edit files in the workspace while commands still need `allowedTools`.
 */
export const CLAUDE_PERMISSION_MODES = ['default', 'acceptEdits', 'plan', 'dontAsk', 'bypassPermissions'] as const;
export type ClaudePermissionMode = (typeof CLAUDE_PERMISSION_MODES)[number];
export const DEFAULT_CLAUDE_PERMISSION_MODE: ClaudePermissionMode = 'acceptEdits';

/**
 * `runClaude`: the Claude Code CLI in headless mode with its NDJSON stream
 * (`--verbose` is required with stream-json; see https://docs.claude.com/en/docs/claude-code/headless).
 */
export function claudeArgv(o: ClaudeOptions): string[] {
  // The CLI's parser would take a prompt starting with "-" for an option; a leading space keeps it a prompt.
  const prompt = o.prompt.startsWith('-') ? ` ${o.prompt}` : o.prompt;
  const argv = ['claude', '-p', prompt, '--output-format', 'stream-json', '--verbose'];
  if (o.sessionId) argv.push('--resume', o.sessionId);
  if (o.continueSession) argv.push('--continue');
  if (o.model) argv.push('--model', o.model);
  // --allowedTools is variadic: one argument per tool, so a tool such as "Bash(git log:*)" stays whole.
  if (o.allowedTools && o.allowedTools.length > 0) argv.push('--allowedTools', ...o.allowedTools);
  if (o.maxTurns != null) argv.push('--max-turns', String(o.maxTurns));
  const mode = o.permissionMode ?? DEFAULT_CLAUDE_PERMISSION_MODE;
  if (mode !== 'default') argv.push('--permission-mode', mode);
  return argv;
}
