/**
 * Replays a Dockerfile without a container engine, so that a test can build and start the
 * image on a machine that has none. The host stands in for every base image (same Debian,
 * same Node major for Dockerfile.api): each stage gets a directory that plays its root
 * filesystem; WORKDIR and COPY destinations are mapped into it; RUN runs `sh -c` in the
 * mapped WORKDIR with the stage's ENV and ARGs. What the model cannot do, it refuses
 * instead of skipping: an unknown instruction, a heredoc, a RUN --mount other than a cache.
 *
 * Deliberate differences from `docker build`:
 * - RUN lines see the host's absolute paths: Dockerfiles replayed here keep RUN paths
 *   relative to WORKDIR. A RUN line that calls apt-get is not run (it would change the
 *   host): the packages it installs must instead be installed on the host (dpkg-query).
 * - `--mount=type=cache` is the host's own directory (npm's cache, for instance).
 * - USER is honoured only when numeric and the replay runs as root (with a fresh HOME, as
 *   the image's /etc/passwd is not at hand); COPY --chown is not.
 *
 * Reference: https://docs.docker.com/reference/dockerfile/
 */
import { spawn, type ChildProcess, type SpawnOptionsWithStdioTuple, type StdioNull, type StdioPipe } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, relative } from 'node:path';
import { argvOf, dockerignore, expand, globRegExp, splitWords, takeFlags, type Dockerfile } from './dockerfile-parse.js';

export { dockerignore, parseDockerfile } from './dockerfile-parse.js';

/** What a replayed stage left behind: its root directory and image configuration. */
export interface ReplayedStage {
  name: string | undefined;
  /** The directory standing in for the stage's `/`. */
  root: string;
  /** The base image's environment (the host's, see {@link ReplayOptions.baseEnv}). */
  baseEnv: Record<string, string>;
  /** What the Dockerfile's ENV set, in this stage and the stages it is built FROM. */
  env: Record<string, string>;
  workdir: string;
  user: string | undefined;
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  healthcheck: string[] | undefined;
  expose: string[];
}

export interface ReplayOptions {
  /** The build context (a clean checkout). */
  context: string;
  /** An empty directory that receives one root directory per stage. */
  workDir: string;
  /** The base images' environment. @default PATH and HOME of this process */
  baseEnv?: Record<string, string>;
  /** Build arguments (`--build-arg`). */
  buildArgs?: Record<string, string>;
  /** Receives the output of every RUN. */
  log?: (text: string) => void;
}

/** The host path of `path` (absolute, inside the image) in a replayed stage. */
export function hostPath(stage: Pick<ReplayedStage, 'root'>, path: string): string {
  return join(stage.root, posix.resolve('/', path));
}

type PipedSpawnOptions = SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe>;

/** How a process of the stage is spawned: in its WORKDIR, as its USER, with its environment. */
function spawnOptions(stage: ReplayedStage, extraEnv: Record<string, string>): PipedSpawnOptions {
  const env = { ...stage.baseEnv, ...stage.env };
  const m = /^(\d+)(?::(\d+))?$/.exec(stage.user ?? '');
  const user = m && process.getuid?.() === 0 ? { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) } : undefined;
  if (user && user.uid !== 0 && stage.env.HOME === undefined) {
    env.HOME = hostPath(stage, `/.replay-home-${user.uid}`);
    mkdirSync(env.HOME, { recursive: true });
    chownSync(env.HOME, user.uid, user.gid);
  }
  return { cwd: hostPath(stage, stage.workdir), env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], ...user };
}

/** Runs argv in a stage; rejects on a non-zero exit with the end of its output. */
function runIn(stage: ReplayedStage, argv: string[], extraEnv: Record<string, string>, log?: (t: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), spawnOptions(stage, extraEnv));
    let tail = '';
    const onData = (b: Buffer) => {
      log?.(b.toString());
      tail = (tail + b.toString()).slice(-4000);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited with ${code}:\n${tail}`))));
  });
}

/** Instead of running an apt-get line, checks that the host has the packages it installs. */
function checkAptPackages(command: string): Promise<void> {
  const packages = [...command.matchAll(/apt-get\s+install\s+([^&;|]*)/g)].flatMap((m) => splitWords(m[1]!).filter((w) => !w.startsWith('-')));
  return new Promise((resolve, reject) => {
    const child = spawn('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\\n', ...packages], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const installed = new Set(
        out
          .split('\n')
          .filter((l) => l.endsWith(' installed'))
          .map((l) => l.split(' ')[0]),
      );
      const missing = packages.filter((p) => !installed.has(p));
      if (missing.length > 0) reject(new Error(`apt-get line: the host lacks ${missing.join(', ')}, so the replay cannot stand in for the image`));
      else resolve();
    });
  });
}

function copy(stage: ReplayedStage, args: string, vars: Record<string, string>, opts: ReplayOptions, done: ReplayedStage[]): void {
  const { flags, rest } = takeFlags(args);
  const words = (rest.startsWith('[') ? argvOf(rest) : splitWords(rest)).map((w) => expand(w, vars));
  if (words.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  const dest = words.pop()!;
  const fromName = flags.get('from')?.[0];
  const from = fromName === undefined ? undefined : (done.find((s) => s.name === fromName) ?? done[Number(fromName)]);
  if (fromName !== undefined && !from) throw new Error(`COPY --from=${fromName}: no such stage`);
  const base = from ? from.root : opts.context;
  const ignored = from
    ? () => false
    : dockerignore(existsSync(join(opts.context, '.dockerignore')) ? readFileSync(join(opts.context, '.dockerignore'), 'utf8') : '');
  const where = from ? `stage ${fromName}` : 'the build context';

  const sources = words.flatMap((src) => {
    const rel = posix.normalize(src).replace(/^\/+/, '');
    if (rel.startsWith('..')) throw new Error(`COPY ${src}: outside ${where}`);
    if (!/[*?[]/.test(basename(rel))) {
      if (rel !== '.' && (ignored(rel) || !existsSync(join(base, rel)))) throw new Error(`COPY ${src}: not found in ${where}`);
      return [rel];
    }
    const dir = dirname(rel);
    const re = globRegExp(basename(rel));
    const found = existsSync(join(base, dir))
      ? readdirSync(join(base, dir))
          .map((f) => posix.join(dir, f))
          .filter((f) => re.test(basename(f)) && !ignored(f))
      : [];
    if (found.length === 0) throw new Error(`COPY ${src}: no file in ${where} matches`);
    return found;
  });

  const target = posix.resolve(stage.workdir, dest);
  const toDir = dest.endsWith('/') || sources.length > 1 || /[*?[]/.test(words.join(' '));
  if (sources.length > 1 && !dest.endsWith('/')) throw new Error(`COPY with several sources needs a destination ending in /: ${dest}`);
  for (const rel of sources) {
    const src = join(base, rel);
    const filter = (p: string) => !ignored(relative(base, p) || '.');
    if (statSync(src).isDirectory()) {
      cpSync(src, hostPath(stage, target), { recursive: true, filter, verbatimSymlinks: true });
    } else {
      const file =
        toDir || (existsSync(hostPath(stage, target)) && statSync(hostPath(stage, target)).isDirectory()) ? posix.join(target, basename(rel)) : target;
      mkdirSync(dirname(hostPath(stage, file)), { recursive: true });
      cpSync(src, hostPath(stage, file));
    }
  }
}

/** Replays every stage in order; returns them all, the image's stage last. */
export async function replay(dockerfile: Dockerfile, opts: ReplayOptions): Promise<ReplayedStage[]> {
  const baseEnv = opts.baseEnv ?? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
  const buildArgs = opts.buildArgs ?? {};
  const globalArgs: Record<string, string> = {};
  for (const { args } of dockerfile.globalArgs) {
    const [name, value] = args.split(/=(.*)/s);
    globalArgs[name!] = buildArgs[name!] ?? expand(value ?? '', globalArgs);
  }
  const done: ReplayedStage[] = [];
  for (const [index, s] of dockerfile.stages.entries()) {
    const from = expand(s.from, globalArgs);
    const parent = done.find((d) => d.name === from);
    const root = join(opts.workDir, `${index}-${s.name ?? 'stage'}`);
    if (parent) cpSync(parent.root, root, { recursive: true, verbatimSymlinks: true });
    mkdirSync(root, { recursive: true, mode: 0o755 });
    const stage: ReplayedStage = parent
      ? { ...structuredClone(parent), name: s.name, root }
      : { name: s.name, root, baseEnv, env: {}, workdir: '/', user: undefined, entrypoint: undefined, cmd: undefined, healthcheck: undefined, expose: [] };
    const args: Record<string, string> = {};
    for (const { keyword, args: text, line } of s.instructions) {
      const vars = { ...stage.baseEnv, ...args, ...stage.env };
      try {
        if (keyword === 'ARG') {
          const [name, value] = text.split(/=(.*)/s);
          args[name!] = buildArgs[name!] ?? (value === undefined ? (globalArgs[name!] ?? '') : expand(value, vars));
        } else if (keyword === 'ENV') {
          const words = splitWords(text);
          const pairs = words[0]!.includes('=') ? words.map((w) => w.split(/=(.*)/s)) : [[words[0]!, words.slice(1).join(' ')]];
          for (const [name, value] of pairs) stage.env[name!] = expand(value ?? '', vars);
        } else if (keyword === 'WORKDIR') {
          stage.workdir = posix.resolve(stage.workdir, expand(text, vars));
          mkdirSync(hostPath(stage, stage.workdir), { recursive: true });
        } else if (keyword === 'COPY') {
          copy(stage, text, vars, opts, done);
        } else if (keyword === 'RUN') {
          const { flags, rest } = takeFlags(text);
          for (const mount of flags.get('mount') ?? []) {
            if (!/(^|,)type=cache(,|$)/.test(mount)) throw new Error(`RUN --mount=${mount} is not supported by the replay`);
          }
          if (/\bapt-get\b/.test(rest)) await checkAptPackages(rest);
          else await runIn(stage, argvOf(rest), { ...args, ...stage.env }, opts.log); // ENV wins over ARG
        } else if (keyword === 'CMD') {
          stage.cmd = argvOf(text);
        } else if (keyword === 'ENTRYPOINT') {
          if (!text.startsWith('[')) throw new Error('only the exec form of ENTRYPOINT is supported by the replay');
          stage.entrypoint = argvOf(text);
        } else if (keyword === 'USER') {
          stage.user = expand(text, vars);
        } else if (keyword === 'EXPOSE') {
          stage.expose.push(...splitWords(expand(text, vars)));
        } else if (keyword === 'HEALTHCHECK') {
          const { rest } = takeFlags(text);
          stage.healthcheck = /^NONE$/i.test(rest) ? undefined : argvOf(rest.replace(/^CMD\s+/i, ''));
        } // LABEL: metadata only
      } catch (error) {
        throw new Error(`stage ${s.name ?? index}, line ${line} (${keyword}): ${(error as Error).message}`);
      }
    }
    done.push(stage);
  }
  return done;
}

/** Starts argv (default: ENTRYPOINT + CMD) in a replayed stage as `docker run -e` would. */
export function startIn(stage: ReplayedStage, env: Record<string, string>, argv = [...(stage.entrypoint ?? []), ...(stage.cmd ?? [])]): ChildProcess {
  if (argv.length === 0) throw new Error('the image has no ENTRYPOINT or CMD');
  return spawn(argv[0]!, argv.slice(1), spawnOptions(stage, env));
}
