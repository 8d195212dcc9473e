import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { createApp, type App } from './app.js';
import { ConfigError, loadConfig } from './config.js';

/** Entry point: read config, try the port, build the app, serve, and shut down gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`rdev-api: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // The port is tried first: a second server started by mistake stops here, with one line, before
  // it opens (and adopts the commands of) a data directory that another server may be using. It is
  // taken for real only once the app is built: a client reconnecting meanwhile (an EventSource gives
  // up for good on a non-200 answer) finds the port closed and retries, instead of a 503.
  const where = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  const cannotListen = (err: unknown): never => {
    process.stderr.write(`rdev-api: cannot listen on ${where}: ${listenProblem(err as NodeJS.ErrnoException)}\n`);
    process.exit(2);
  };
  if (config.port !== 0) await tryPort(config.port, config.host).catch(cannotListen);
  let app: App;
  try {
    app = await createApp(config);
  } catch (err) {
    process.stderr.write(`rdev-api: cannot start: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const server = createServer((req, res) => app.handle(req, res));
  await listen(server, config.port, config.host).catch(async (err: unknown) => {
    await app.close();
    cannotListen(err);
  });
  const { port } = server.address() as AddressInfo;
  app.logger.info('listening', { url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`, port, backend: config.backend });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    app.logger.info('shutting down', { signal });
    server.close(); // no new connections
    await app.close(); // commands finish or are stopped; streams end
    server.closeAllConnections();
    app.logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Resolves if `port` can be listened on now (and lets it go again); rejects with the listen error. */
function tryPort(port: number, host: string): Promise<void> {
  const probe = createNetServer();
  return listen(probe, port, host).then(() => new Promise<void>((resolve) => probe.close(() => resolve())));
}

/**
 * Connections the kernel may hold for the server before it accepts them. Node's default, 511, overflowed when 1,000
 * subscribers connected at once to a busy server (the bench of issue 14 saw the drops: clients retried after 1, 3, 7 s).
 * The kernel caps it at net.core.somaxconn (4096 on current kernels).
 */
const LISTEN_BACKLOG = 4096;

/** Resolves once `server` listens; rejects with the listen error (EADDRINUSE, EACCES, …). */
function listen(server: Server | NetServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A listen error in words a person acts on. */
function listenProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'the address is already in use (is another server running? choose another PORT)';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges; choose another PORT)';
    case 'EADDRNOTAVAIL':
      return 'this machine has no such address (check HOST)';
    default:
      return err.message;
  }
}

await main();
