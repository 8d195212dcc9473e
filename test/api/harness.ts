import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

/** A whole app listening on an ephemeral loopback port, with two git projects in a temp dir. */
export interface TestApp {
  url: string;
  app: App;
  server: Server;
  /** Directory of each project's workspace, by id. */
  projectDirs: { alpha: string; beta: string };
  close(): Promise<void>;
}

/** Options: extra environment for `loadConfig` (e.g. a small concurrency limit). */
export interface TestAppOptions {
  env?: Record<string, string>;
}

function gitInit(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'README.md'), '# test project\n');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('-c', 'user.name=test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'init');
}

/** Starts an app on port 0 with projects `alpha` and `beta` (git repositories) and a missing one, `gone`. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const root = mkdtempSync(path.join(tmpdir(), 'rdev-api-test-'));
  const projectDirs = { alpha: path.join(root, 'alpha'), beta: path.join(root, 'beta') };
  gitInit(projectDirs.alpha);
  gitInit(projectDirs.beta);
  const projectsFile = path.join(root, 'projects.yaml');
  writeFileSync(projectsFile, `projects:\n  - { id: alpha, path: alpha }\n  - { id: beta, path: beta }\n  - { id: gone, path: does-not-exist }\n`);
  const config = loadConfig({
    PORT: '0',
    RDEV_DATA_DIR: path.join(root, 'data'),
    RDEV_PROJECTS_FILE: projectsFile,
    RDEV_LOG_LEVEL: 'silent',
    RDEV_SHUTDOWN_GRACE_SECONDS: '0',
    ...options.env,
  });
  const app = createApp(config);
  const server = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    server,
    projectDirs,
    async close() {
      await app.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
