import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { ProjectStatus } from '../../src/projects/registry.js';
import { claudeStandinEnv } from '../support/claude/index.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api/index.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';
import { until } from './client.js';

/**
 * Which backend the API suite runs against: the same tests run once per backend (see
 * vitest.config.ts), `local` by default, `kube` through the Kubernetes API test server.
 */
export type Backend = 'local' | 'kube';
export const BACKEND: Backend = process.env.RDEV_TEST_BACKEND === 'kube' ? 'kube' : 'local';

/**
 * Where the app keeps its history: SQLite in its data directory by default; with
 * `RDEV_TEST_STORE=postgres` (the `postgres` project of vitest.config.ts), a throwaway PostgreSQL
 * of its own (RDEV_DATABASE_URL), as one replica of several would.
 */
export const STORE: 'sqlite' | 'postgres' = process.env.RDEV_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** The PATH this worker started with. */
const HOST_PATH = process.env.PATH ?? '';

/**
 * One throwaway PostgreSQL per test file (made when its first app starts), a fresh database per app;
 * removed after the file by {@link removeFilePostgres}, which `test/api/postgres-per-file.ts` (a setup
 * file of the `postgres` project, run before every test file) registers: test files share this module.
 */
let postgres: Promise<PgCluster> | undefined;
let databases = 0;

/** Removes the test file's PostgreSQL, if it made one; the next file makes its own. */
export async function removeFilePostgres(): Promise<void> {
  const cluster = postgres;
  postgres = undefined;
  await (await cluster)?.remove();
}

/** A whole app listening on an ephemeral loopback port, with two git projects. */
export interface TestApp {
  url: string;
  app: App;
  server: Server;
  backend: Backend;
  /** Where each project's files are on this machine (write here to give a command a file). */
  projectDirs: { alpha: string; beta: string };
  /** The workspace path each project's commands see (`pwd`). */
  workspaces: { alpha: string; beta: string };
  /** What the third project, `gone`, looks like: a missing directory, or a pod still starting. */
  gone: { status: ProjectStatus; pod: string | null };
  /** The Kubernetes API test server (kube backend only). */
  kube?: KubeApiServer;
  /** RDEV_DATA_DIR: where the app keeps its state (the audit log is `audit.log` in it). */
  dataDir: string;
  close(): Promise<void>;
}

/** Options: extra environment for `loadConfig` (e.g. a small concurrency limit). */
export interface TestAppOptions {
  env?: Record<string, string>;
  /** A tokens file (YAML, as RDEV_TOKENS_FILE reads it): authentication is on with these tokens. */
  tokensYaml?: string;
}

function gitInit(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'README.md'), '# test project\n');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('-c', 'user.name=test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'init');
}

/**
 * Starts an app on port 0 with projects `alpha` and `beta` (git repositories) and `gone`, which
 * cannot run commands: a missing directory (local) or a pod that is still Pending (kube).
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const root = mkdtempSync(path.join(tmpdir(), 'rdev-api-test-'));
  // RDEV_ON_SHUTDOWN=stop: a test app's close() stops what it started (the default, detach, leaves commands running for the next server).
  const base = { PORT: '0', RDEV_DATA_DIR: path.join(root, 'data'), RDEV_LOG_LEVEL: 'silent', RDEV_SHUTDOWN_GRACE_SECONDS: '0', RDEV_ON_SHUTDOWN: 'stop' };
  let kube: KubeApiServer | undefined;
  let projectDirs: TestApp['projectDirs'];
  let workspaces: TestApp['workspaces'];
  let gone: TestApp['gone'];
  let env: Record<string, string>;
  // The stand-in `claude` (test/support/claude) is on the PATH commands see, as the real CLI is in a claudebox.
  const claudeEnv = claudeStandinEnv(path.join(root, 'claude-state'), {});
  const standin = { PATH: `${claudeEnv.PATH}${path.delimiter}${HOST_PATH}`, CLAUDE_STANDIN_STATE: claudeEnv.CLAUDE_STANDIN_STATE! };
  if (BACKEND === 'kube') {
    kube = await startKubeApiServer();
    const pod = (id: string) => kube!.addPod({ name: `claudebox-${id}-0`, namespace: 'rdev', labels: { 'rdev.io/project': id }, env: standin });
    projectDirs = { alpha: pod('alpha').dir, beta: pod('beta').dir };
    pod('gone');
    kube.setPhase('rdev', 'claudebox-gone-0', 'Pending');
    // Without a private /workspace per pod (not root), the directory holding every pod's stands in (RDEV_WORKSPACE=/ is refused).
    const workspace = kube.workspaceMounted ? '/workspace' : path.dirname(path.dirname(projectDirs.alpha));
    workspaces = kube.workspaceMounted ? { alpha: workspace, beta: workspace } : projectDirs;
    gone = { status: 'STARTING', pod: 'claudebox-gone-0' };
    env = { RDEV_BACKEND: 'kube', KUBECONFIG: kube.kubeconfigPath, RDEV_WORKSPACE: workspace };
  } else {
    // The local executor passes its environment on. Test files of a worker share the process: PATH is built from
    // the PATH the worker started with (not grown by every app), and the state directory is this app's.
    Object.assign(process.env, standin);
    projectDirs = { alpha: path.join(root, 'alpha'), beta: path.join(root, 'beta') };
    workspaces = projectDirs;
    gone = { status: 'MISSING', pod: null };
    const projectsFile = path.join(root, 'projects.yaml');
    writeFileSync(projectsFile, `projects:\n  - { id: alpha, path: alpha }\n  - { id: beta, path: beta }\n  - { id: gone, path: does-not-exist }\n`);
    env = { RDEV_PROJECTS_FILE: projectsFile, RDEV_COMMAND_ENV: 'CLAUDE_STANDIN_STATE' };
  }
  gitInit(projectDirs.alpha);
  gitInit(projectDirs.beta);
  if (options.tokensYaml !== undefined) {
    const tokensFile = path.join(root, 'tokens.yaml');
    writeFileSync(tokensFile, options.tokensYaml);
    env.RDEV_TOKENS_FILE = tokensFile;
  }
  if (STORE === 'postgres') {
    postgres ??= startPostgres();
    env.RDEV_DATABASE_URL = await (await postgres).createDatabase(`app_${++databases}`);
  }
  const app = await createApp(loadConfig({ ...base, ...env, ...options.env }));
  await until(() => app.registry.readiness().ready && app.registry.list().length === 3, 10_000, 'the registry to load');
  const server = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    server,
    backend: BACKEND,
    projectDirs,
    workspaces,
    gone,
    kube,
    dataDir: base.RDEV_DATA_DIR,
    async close() {
      await app.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await kube?.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
