import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

/** Entry point: read config, build the app, listen, and shut down gracefully on SIGTERM/SIGINT. */
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
  let app;
  try {
    app = await createApp(config);
  } catch (err) {
    process.stderr.write(`rdev-api: cannot start: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const server = createServer((req, res) => app.handle(req, res));
  server.listen(config.port, config.host, () => {
    const { port } = server.address() as AddressInfo;
    app.logger.info('listening', { url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`, port, backend: config.backend });
  });

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

await main();
