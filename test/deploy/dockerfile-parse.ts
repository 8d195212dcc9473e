/**
 * Reads a Dockerfile the way `docker build` does, as far as ./dockerfile-replay.ts needs:
 * continuation lines, comments, stages (`FROM ... AS name`), variable substitution, word
 * splitting, exec and shell forms, instruction flags and `.dockerignore` patterns. What it
 * does not know (ADD, heredocs, ONBUILD...) is an error, never silently skipped.
 *
 * Reference: https://docs.docker.com/reference/dockerfile/
 */
import { posix } from 'node:path';

/** One instruction, continuation lines joined. */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** A build stage: `FROM <from> [AS <name>]` and what follows it. */
export interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM. */
  globalArgs: Instruction[];
  stages: Stage[];
}

const SUPPORTED = new Set(['FROM', 'ARG', 'ENV', 'WORKDIR', 'COPY', 'RUN', 'CMD', 'ENTRYPOINT', 'USER', 'EXPOSE', 'HEALTHCHECK', 'LABEL']);

/** Parses a Dockerfile into stages; throws on what the replay does not support. */
export function parseDockerfile(text: string): Dockerfile {
  const result: Dockerfile = { globalArgs: [], stages: [] };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let logical = lines[i]!;
    if (/^\s*(#.*)?$/.test(logical)) continue;
    // Docker drops the backslash and the newline: the lines join into one.
    while (/\\\s*$/.test(logical) && i + 1 < lines.length) {
      logical = logical.replace(/\\\s*$/, '');
      i++;
      if (/^\s*#/.test(lines[i]!)) continue; // comment lines inside a continuation are dropped
      logical += lines[i]!;
    }
    const match = /^\s*(\w+)\s*(.*)$/s.exec(logical);
    const keyword = match![1]!.toUpperCase();
    const args = match![2]!.trim();
    if (!SUPPORTED.has(keyword)) throw new Error(`line ${start}: ${keyword} is not supported by the replay`);
    if (/<<-?\s*["']?\w+/.test(args) && (keyword === 'RUN' || keyword === 'COPY')) {
      throw new Error(`line ${start}: heredocs are not supported by the replay`);
    }
    const instruction = { keyword, args, line: start };
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`line ${start}: cannot read FROM ${args}`);
      result.stages.push({ from: from[1]!, name: from[2], instructions: [] });
    } else if (result.stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`line ${start}: ${keyword} before the first FROM`);
      result.globalArgs.push(instruction);
    } else {
      result.stages.at(-1)!.instructions.push(instruction);
    }
  }
  if (result.stages.length === 0) throw new Error('no FROM');
  return result;
}

/** `$NAME`, `${NAME}`, `${NAME:-word}` and `${NAME:+word}`, as Docker substitutes them. */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\\\$|\$\{(\w+)(?::([-+])([^}]*))?\}|\$(\w+)/g, (whole, braced?: string, op?: string, word?: string, bare?: string) => {
    if (whole === '\\$') return '$';
    const value = vars[(braced ?? bare)!];
    if (op === '-') return value ? value : (word ?? '');
    if (op === '+') return value ? (word ?? '') : '';
    return value ?? '';
  });
}

/** Splits on unquoted whitespace, removing quotes and backslash escapes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i]!;
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else {
      word = (word ?? '') + (c === '\\' && i + 1 < text.length ? text[++i]! : c);
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${text}`);
  if (word !== undefined) words.push(word);
  return words;
}

/** The argv of an exec-form (`["a", "b"]`) or shell-form instruction. */
export function argvOf(args: string): string[] {
  if (args.startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not a JSON string array: ${args}`);
    return parsed as string[];
  }
  return ['/bin/sh', '-c', args];
}

/** Leading `--flag[=value]` options of COPY, RUN and HEALTHCHECK, and the rest. */
export function takeFlags(args: string): { flags: Map<string, string[]>; rest: string } {
  const flags = new Map<string, string[]>();
  let rest = args;
  for (let m = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest); m; m = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest)) {
    flags.set(m[1]!, [...(flags.get(m[1]!) ?? []), m[2] ?? '']);
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** A path pattern as Docker reads it: Go's filepath.Match per segment, `**` across segments. */
export function globRegExp(pattern: string): RegExp {
  const source = pattern
    .split('/')
    .map((seg) =>
      seg === '**'
        ? '.*'
        : seg
            .replace(/[.+^${}()|\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
    )
    .join('/');
  return new RegExp(`^${source.replace(/\.\*\//g, '(?:.*/)?')}$`);
}

/** A `.dockerignore` matcher; a later `!pattern` re-includes what an earlier one excluded. */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
      return { negate, re: globRegExp(pattern) };
    });
  return (path) => {
    const parts = path.split('/');
    let ignored = false;
    for (const { negate, re } of rules) {
      // A rule that matches a parent directory matches everything below it.
      if (parts.some((_, i) => re.test(parts.slice(0, i + 1).join('/')))) ignored = !negate;
    }
    return ignored;
  };
}
