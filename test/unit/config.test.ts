import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      backend: 'local',
      namespace: 'rdev',
      projectLabel: 'rdev.io/project',
      container: 'claudebox',
      workspace: '/workspace',
      defaultTimeoutSeconds: 600,
      claudeTimeoutSeconds: 3600,
      maxTimeoutSeconds: 21600,
      maxConcurrentPerProject: 4,
      maxQueued: 100,
      heartbeatSeconds: 15,
      auditMemoryEntries: 2000,
      auditMaxBytes: 100 * 1024 * 1024,
      databaseWaitSeconds: 20,
    });
  });
  it('defaults to the kube backend inside a cluster', () => {
    expect(loadConfig({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }).backend).toBe('kube');
  });
  it('names the variable and the problem in one line', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^PORT="eighty": must be a whole number$/);
    expect(() => loadConfig({ RDEV_BACKEND: 'docker' })).toThrow(/^RDEV_BACKEND="docker": /);
    expect(() => loadConfig({ RDEV_MAX_TIMEOUT_SECONDS: '10' })).toThrow(/RDEV_DEFAULT_TIMEOUT_SECONDS=600: must not exceed RDEV_MAX_TIMEOUT_SECONDS/);
  });
  it('reads RDEV_DATABASE_WAIT_SECONDS as whole seconds from 0 (do not wait) to an hour', () => {
    expect(loadConfig({ RDEV_DATABASE_WAIT_SECONDS: '0' }).databaseWaitSeconds).toBe(0);
    expect(loadConfig({ RDEV_DATABASE_WAIT_SECONDS: '3600' }).databaseWaitSeconds).toBe(3600);
    for (const bad of ['-1', '2.5', 'soon', '3601'])
      expect(() => loadConfig({ RDEV_DATABASE_WAIT_SECONDS: bad })).toThrow(new RegExp(`^RDEV_DATABASE_WAIT_SECONDS="${bad}": `));
  });
  it('refuses a non-loopback HOST without RDEV_INSECURE', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(/^HOST=0\.0\.0\.0: refusing/);
    expect(loadConfig({ HOST: '0.0.0.0', RDEV_INSECURE: '1' }).host).toBe('0.0.0.0');
  });
  it('reads RDEV_COMMAND_ENV as a list of variable names, and refuses one that is not a name', () => {
    expect(loadConfig({}).commandEnv).toEqual([]);
    expect(loadConfig({ RDEV_COMMAND_ENV: ' GIT_AUTHOR_NAME, SSH_AUTH_SOCK ,' }).commandEnv).toEqual(['GIT_AUTHOR_NAME', 'SSH_AUTH_SOCK']);
    expect(() => loadConfig({ RDEV_COMMAND_ENV: 'A,B-C' })).toThrow(/^RDEV_COMMAND_ENV="A,B-C": must be a comma-separated list of environment variable names$/);
  });
  it('refuses RDEV_WORKSPACE=/ (every directory would be inside it)', () => {
    for (const root of ['/', '//', '/./'])
      expect(() => loadConfig({ RDEV_WORKSPACE: root })).toThrow(new RegExp(`^RDEV_WORKSPACE="${root}": must not be the root directory`));
    expect(loadConfig({ RDEV_WORKSPACE: '/srv/work' }).workspace).toBe('/srv/work');
  });
});
