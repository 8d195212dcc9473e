import { BadUserInputError } from '../errors.js';

/**
 * `runGit` runs git subcommands, not code: the first argument must be an allowed subcommand, and
 * no argument may be an option that runs a program, writes outside the workspace or rewrites
 * configuration — in any spelling git accepts (`--opt=v`, `--opt v`, unique prefixes such as
 * `--upload-p`, bundled short options such as `-vx`). Everything after `--` is a path.
 */

/** Subcommands `runGit` runs unless `RDEV_GIT_SUBCOMMANDS` says otherwise. */
export const DEFAULT_GIT_SUBCOMMANDS = [
  'add',
  'blame',
  'branch',
  'checkout',
  'cherry-pick',
  'clean',
  'commit',
  'config',
  'describe',
  'diff',
  'fetch',
  'grep',
  'log',
  'ls-files',
  'ls-tree',
  'merge',
  'mv',
  'pull',
  'push',
  'rebase',
  'reflog',
  'remote',
  'reset',
  'restore',
  'rev-list',
  'rev-parse',
  'revert',
  'rm',
  'shortlog',
  'show',
  'stash',
  'status',
  'submodule',
  'switch',
  'tag',
] as const;

/**
 * Long options refused after any subcommand: they run programs, point git elsewhere, or read or
 * write files outside the workspace (`diff --no-index`, `blame --contents`, `commit --file`, …).
 */
const LONG_ANYWHERE = [
  '--upload-pack',
  '--receive-pack',
  '--exec',
  '--exec-path',
  '--git-dir',
  '--work-tree',
  '--config-env',
  '--output',
  '--open-files-in-pager',
  '--namespace',
  '--super-prefix',
  '--no-index',
  '--contents',
  '--file',
  '--template',
  '--blob',
];

/** Per subcommand: long options and short option letters that run a program or need a terminal. */
const BY_SUBCOMMAND: Record<string, { long: string[]; short: string }> = {
  fetch: { long: [], short: 'u' },
  pull: { long: [], short: 'u' },
  rebase: { long: ['--interactive', '--edit-todo'], short: 'xi' },
  grep: { long: [], short: 'Of' },
  commit: { long: ['--interactive', '--patch'], short: 'pFt' },
  tag: { long: [], short: 'F' },
  add: { long: ['--interactive', '--patch', '--edit'], short: 'ipe' },
  checkout: { long: ['--patch'], short: 'p' },
  reset: { long: ['--patch'], short: 'p' },
  restore: { long: ['--patch'], short: 'p' },
  stash: { long: ['--patch'], short: 'p' },
  clean: { long: ['--interactive'], short: 'i' },
};

/** `git config` reads: the form must come first (git stops reading options at the first plain argument). */
const CONFIG_READS = new Set(['--get', '--get-all', '--get-regexp', '--get-urlmatch', '--list', '-l', 'get', 'list']);
const CONFIG_READ_FLAGS = new Set([
  '--show-origin',
  '--show-scope',
  '--null',
  '-z',
  '--name-only',
  '--includes',
  '--no-includes',
  '--local',
  '--global',
  '--system',
]);

/** Remotes that are local paths or transport helpers (`ext::`, `fd::`) reach outside the workspace. */
function isOutsideRemote(arg: string): boolean {
  return /^(\/|~|\.\.(\/|$)|file:)/.test(arg) || arg.includes('::');
}
const REMOTE_SUBCOMMANDS = new Set(['fetch', 'pull', 'push', 'remote', 'submodule']);

function refuse(reason: string): never {
  throw new BadUserInputError('args', reason);
}

/** True when `arg` (an option, maybe with `=value`) is `option` or a prefix git would expand to it. */
function spells(arg: string, option: string): boolean {
  const name = arg.split('=', 1)[0]!;
  // git accepts any unique prefix: even `--e` is `push --exec`.
  return name.length >= 3 && option.startsWith(name);
}

/** Checks `args` against the policy; throws BAD_USER_INPUT naming the argument and why. */
export function checkGitArgs(args: readonly string[], allowed: ReadonlySet<string>): void {
  const sub = args[0] ?? '';
  if (sub.startsWith('-')) refuse(`git options before the subcommand are not allowed (${JSON.stringify(sub)}): start with a subcommand such as "status"`);
  if (!allowed.has(sub)) refuse(`git ${JSON.stringify(sub)} is not an allowed subcommand (allowed: ${[...allowed].sort().join(', ')})`);
  const rules = BY_SUBCOMMAND[sub] ?? { long: [], short: '' };
  const rest = args.slice(1);
  const end = rest.indexOf('--');
  const options = end >= 0 ? rest.slice(0, end) : rest;
  for (const [i, arg] of options.entries()) {
    if (arg.startsWith('--')) {
      const bad = [...LONG_ANYWHERE, ...rules.long].find((o) => spells(arg, o));
      if (bad) refuse(`${JSON.stringify(arg)} (${bad}) is not allowed: it runs a program, needs a terminal, or points git outside the workspace`);
    } else if (arg.startsWith('-') && arg.length > 1) {
      // -c key=value (or -ckey=value) sets configuration, whatever the subcommand.
      if (arg.startsWith('-c') && (arg.includes('=') || (options[i + 1] ?? '').includes('=')))
        refuse(`${JSON.stringify(arg)} sets configuration, which runGit does not allow`);
      // A bundle such as -vx: any dangerous letter in it counts.
      const letter = [...arg.slice(1)].find((c) => rules.short.includes(c));
      if (letter)
        refuse(`${JSON.stringify(arg)} (-${letter}) is not allowed for git ${sub}: it runs a program, needs a terminal or reads a file outside the workspace`);
    }
  }
  if (sub === 'submodule' && options.some((a) => a === 'foreach'))
    refuse('git submodule foreach runs a command in each submodule, which runGit does not allow');
  if (sub === 'config') checkConfigRead(options);
  if (REMOTE_SUBCOMMANDS.has(sub)) {
    const outside = options.find((a) => !a.startsWith('-') && isOutsideRemote(a));
    if (outside) refuse(`${JSON.stringify(outside)} is a local path or a transport helper outside the workspace, which runGit does not allow`);
  }
}

/** `git config` may only read: `config <read form> [flags] [name [pattern]]`, with nothing that writes. */
function checkConfigRead(options: readonly string[]): void {
  const at = options.findIndex((a) => CONFIG_READS.has(a));
  const before = at < 0 ? options : options.slice(0, at);
  if (at < 0 || before.some((a) => !CONFIG_READ_FLAGS.has(a))) {
    refuse('git config may only read configuration here: start with --get, --get-all, --get-regexp or --list');
  }
  const plain = options.slice(at + 1).filter((a) => !CONFIG_READ_FLAGS.has(a));
  if (plain.some((a) => a.startsWith('-'))) refuse('git config may only read configuration here: no other options after the read form');
  if (plain.length > 2) refuse('git config may only read configuration here: a name and at most a value pattern');
}

/** True for a push that rewrites or deletes remote history. */
export function isForcePush(args: readonly string[]): boolean {
  if (args[0] !== 'push') return false;
  const rest = args.slice(1);
  const end = rest.indexOf('--');
  const options = end >= 0 ? rest.slice(0, end) : rest;
  return options.some(
    (a) =>
      ['--force', '--force-with-lease', '--force-if-includes', '--mirror', '--delete', '--prune'].some((o) => spells(a, o)) ||
      (/^-[a-zA-Z]+$/.test(a) && /[fd]/.test(a.slice(1))) ||
      (!a.startsWith('-') && (a.startsWith('+') || a.startsWith(':') || a.includes(':+'))),
  );
}
