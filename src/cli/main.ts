import { Command, CommanderError, Option } from 'commander';
import { Api, ConnectionLostError, RefusedError, causeOf } from './api.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import {
  CANCEL,
  COMMAND_OUTPUT,
  COMMANDS,
  PROJECTS,
  RUN_CLAUDE,
  RUN_GIT,
  RUN_SHELL,
  type CancelData,
  type CommandOutputData,
  type CommandsData,
  type CommandSummary,
  type ProjectsData,
  type RunData,
} from './operations.js';
import { renderEvent, type Sinks } from './render.js';

/**
 * `rdev`: the command line of rdev-api. It talks to the server at RDEV_URL (with RDEV_TOKEN),
 * starts commands with the GraphQL mutations, streams their events live (graphql-sse) to
 * stdout/stderr, and exits with the command's own exit code (see exit-codes.ts for the others).
 */

/** What `run` needs from its surroundings (process.* by default). */
export interface CliEnvironment {
  env: NodeJS.ProcessEnv;
  sinks: Sinks;
  /** Registers a SIGINT handler; returns its removal. */
  onInterrupt(handler: () => void): () => void;
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT', 'LOST']);

const positiveInt =
  (name: string) =>
  (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new CommanderError(EXIT.USAGE, 'rdev.usage', `${name} must be a whole number, at least 1`);
    return Number(value);
  };
const wholeNumber =
  (name: string) =>
  (value: string): number => {
    if (!/^\d+$/.test(value)) throw new CommanderError(EXIT.USAGE, 'rdev.usage', `${name} must be a whole number`);
    return Number(value);
  };

function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** Lines as columns padded to the widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** Runs `rdev` with `argv` (without node and the script); resolves with the exit code. */
export async function run(argv: string[], environment: CliEnvironment = processEnvironment()): Promise<number> {
  const { env, sinks } = environment;
  const say = (line: string): void => void sinks.stderr.write(`rdev: ${line}\n`);
  let outage = false;
  const reconnectSeconds = Number(env.RDEV_RECONNECT_SECONDS ?? 60);
  const api = new Api({
    url: env.RDEV_URL || 'http://127.0.0.1:8080',
    token: env.RDEV_TOKEN || undefined,
    reconnectMs: (Number.isFinite(reconnectSeconds) && reconnectSeconds >= 0 ? reconnectSeconds : 60) * 1000,
    onReconnecting: (err) => {
      outage = true;
      say(`lost the event stream (${causeOf(err)}); reconnecting…`);
    },
  });
  let code = 0;

  /** Follows `id` from `after` to its end, printing as it goes; Ctrl-C cancels it when `cancelOnInterrupt`. */
  const follow = async (id: string, after: number, json: boolean, cancelOnInterrupt: boolean): Promise<number> => {
    let interrupts = 0;
    const stopping = new AbortController();
    const remove = environment.onInterrupt(() => {
      interrupts += 1;
      if (!cancelOnInterrupt || interrupts > 1) {
        // Watching only (or a second Ctrl-C): leave, the command runs on.
        if (cancelOnInterrupt) say(`left ${id} running`);
        stopping.abort();
        return;
      }
      say(`canceling ${id}… (Ctrl-C again to leave it running)`);
      api.request<CancelData>(CANCEL, { id }).catch((err: unknown) => say(`could not cancel ${id}: ${(err as Error).message}`));
    });
    try {
      const done = await api.follow(
        id,
        after,
        (event) => {
          if (outage) {
            outage = false;
            say('reconnected');
          }
          renderEvent(event, sinks, json);
        },
        stopping.signal,
      );
      return exitCodeOf(done.status, done.exitCode);
    } catch (err) {
      if (stopping.signal.aborted) return EXIT.CANCELED;
      throw err;
    } finally {
      remove();
    }
  };

  /** Starts a command with `mutation`, then follows it (or prints its id with --detach). */
  const start = async (mutation: string, field: keyof RunData, input: Record<string, unknown>, opts: { json?: boolean; detach?: boolean }): Promise<number> => {
    const command = (await api.request<RunData>(mutation, { input }))[field]!;
    if (opts.json) sinks.stdout.write(`${JSON.stringify({ command })}\n`);
    if (opts.detach) {
      if (!opts.json) sinks.stdout.write(`${command.id}\n`);
      return 0;
    }
    return follow(command.id, 0, opts.json ?? false, true);
  };

  const program = new Command('rdev')
    .description(
      'Run shell, git and Claude commands in rdev-api projects and stream their output.\nServer: RDEV_URL (default http://127.0.0.1:8080); token: RDEV_TOKEN.',
    )
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => void sinks.stdout.write(s), writeErr: (s) => void sinks.stderr.write(s) })
    .addHelpText(
      'after',
      `
Exit codes: a command's own exit code when it ran (SUCCEEDED 0, FAILED its code);
  ${EXIT.CANCELED} CANCELED, ${EXIT.TIMED_OUT} TIMED_OUT, ${EXIT.LOST} LOST, ${EXIT.CONNECTION_LOST} server unreachable or stream lost,
  ${EXIT.REFUSED} request refused by the server, ${EXIT.USAGE} bad arguments.
Ctrl-C cancels the command rdev started (twice: leave it running); a lost stream is resumed by itself.`,
    );

  const runOptions = (c: Command): Command =>
    c
      .option('--json', 'print JSON lines: the command, then each event')
      .option('--detach', 'start the command and print its id; do not follow it')
      .addOption(new Option('--timeout <seconds>', 'stop it after this many seconds (TIMED_OUT)').argParser(positiveInt('--timeout')));

  program
    .command('projects')
    .description('list the projects')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { json?: boolean }) => {
      const { projects } = await api.request<ProjectsData>(PROJECTS);
      if (opts.json) for (const p of projects) sinks.stdout.write(`${JSON.stringify(p)}\n`);
      else
        sinks.stdout.write(
          table([
            ['PROJECT', 'STATUS', 'WORKSPACE'],
            ...projects.map((p) => [p.id, p.statusMessage ? `${p.status} (${p.statusMessage})` : p.status, p.workspace]),
          ]),
        );
    });

  runOptions(program.command('sh'))
    .description('run a shell command (sh -c) in a project: rdev sh <project> -- <command…>')
    .argument('<project>')
    .argument('<command...>', 'the command line, given to sh -c (words are joined by spaces)')
    .option('--workdir <dir>', 'run in this directory of the workspace')
    .action(async (project: string, words: string[], opts: { json?: boolean; detach?: boolean; timeout?: number; workdir?: string }) => {
      code = await start(RUN_SHELL, 'runShell', { projectId: project, command: words.join(' '), timeoutSeconds: opts.timeout, workdir: opts.workdir }, opts);
    });

  runOptions(program.command('git'))
    .description('run git with these arguments in a project (no shell): rdev git <project> <args…>')
    .argument('<project>')
    .argument('<args...>', "git's arguments, from the subcommand on (options after the project go to git)")
    .passThroughOptions()
    .action(async (project: string, args: string[], opts: { json?: boolean; detach?: boolean; timeout?: number }) => {
      code = await start(RUN_GIT, 'runGit', { projectId: project, args, timeoutSeconds: opts.timeout }, opts);
    });

  runOptions(program.command('claude'))
    .description('run a Claude Code prompt in a project, shown as readable text')
    .argument('<project>')
    .argument('<prompt>')
    .option('--resume <session>', 'continue this Claude session (its id is on the "[claude] session" line)')
    .option('--model <model>', 'the model, e.g. sonnet')
    .addOption(new Option('--max-turns <n>', 'at most this many turns').argParser(positiveInt('--max-turns')))
    .action(
      async (
        project: string,
        prompt: string,
        opts: { json?: boolean; detach?: boolean; timeout?: number; resume?: string; model?: string; maxTurns?: number },
      ) => {
        code = await start(
          RUN_CLAUDE,
          'runClaude',
          { projectId: project, prompt, sessionId: opts.resume, model: opts.model, maxTurns: opts.maxTurns, timeoutSeconds: opts.timeout },
          opts,
        );
      },
    );

  program
    .command('logs')
    .description("print a command's output; with --follow, follow it to its end")
    .argument('<id>')
    .option('-f, --follow', 'follow it live until it ends, and exit with its exit code')
    .addOption(new Option('--after <n>', 'only the events after this seq').argParser(wholeNumber('--after')).default(0))
    .option('--json', 'one JSON line per event')
    .action(async (id: string, opts: { follow?: boolean; after: number; json?: boolean }) => {
      const first = await api.request<CommandOutputData>(COMMAND_OUTPUT, { id, after: opts.after, first: 500 });
      if (!first.command) throw new RefusedError(`command ${JSON.stringify(id)} not found`, 'NOT_FOUND');
      if (opts.follow || FINAL.has(first.command.status)) {
        // A finished command's log ends with its completion: replay it all, exit as it did.
        code = await follow(id, opts.after, opts.json ?? false, false);
        return;
      }
      let page = first.command.output;
      for (;;) {
        for (const e of page) renderEvent({ __typename: 'CommandOutput', ...e }, sinks, opts.json ?? false);
        if (page.length < 500) break;
        page = (await api.request<CommandOutputData>(COMMAND_OUTPUT, { id, after: page.at(-1)!.seq, first: 500 })).command?.output ?? [];
      }
    });

  program
    .command('ps')
    .description('list recent commands, newest first (of one project, or of all)')
    .argument('[project]')
    .addOption(new Option('-n, --limit <n>', 'how many').argParser(positiveInt('--limit')).default(20))
    .option('--json', 'one JSON object per line')
    .action(async (project: string | undefined, opts: { limit: number; json?: boolean }) => {
      const { commands } = await api.request<CommandsData>(COMMANDS, { projectId: project, first: opts.limit });
      const nodes: CommandSummary[] = commands.edges.map((e) => e.node);
      if (opts.json) for (const c of nodes) sinks.stdout.write(`${JSON.stringify(c)}\n`);
      else {
        const rows = nodes.map((c) => [
          c.id,
          c.project.id,
          c.status,
          c.exitCode === null ? '' : String(c.exitCode),
          age(c.createdAt),
          c.argv.join(' ').replace(/\s+/g, ' ').slice(0, 80),
        ]);
        sinks.stdout.write(table([['ID', 'PROJECT', 'STATUS', 'EXIT', 'AGE', 'COMMAND'], ...rows]));
      }
    });

  program
    .command('cancel')
    .description('cancel a command; answers once it has ended')
    .argument('<id>')
    .option('--json', 'print the command as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { cancelCommand } = await api.request<CancelData>(CANCEL, { id });
      sinks.stdout.write(opts.json ? `${JSON.stringify(cancelCommand)}\n` : `${cancelCommand.id} ${cancelCommand.status}\n`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
      if (err.code === 'rdev.usage') say(err.message);
      return EXIT.USAGE;
    }
    if (err instanceof RefusedError) {
      say(err.code ? `${err.code}: ${err.message}` : err.message);
      return EXIT.REFUSED;
    }
    if (err instanceof ConnectionLostError) {
      say(err.message);
      return EXIT.CONNECTION_LOST;
    }
    say(`unexpected error: ${String((err as Error)?.stack ?? err)}`);
    return 1;
  }
}

/** The real process: its environment, stdout/stderr and SIGINT. */
export function processEnvironment(): CliEnvironment {
  return {
    env: process.env,
    sinks: { stdout: process.stdout, stderr: process.stderr },
    onInterrupt(handler) {
      process.on('SIGINT', handler);
      return () => void process.off('SIGINT', handler);
    },
  };
}
