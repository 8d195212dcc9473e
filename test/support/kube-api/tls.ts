/**
 * A throwaway self-signed certificate for the test API server, made with the `openssl` CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** PEM key and certificate; the certificate is its own CA. */
export interface TestCertificate {
  keyPem: string;
  certPem: string;
}

// One certificate per process is plenty (it is valid for 127.0.0.1 and localhost).
let cached: Promise<TestCertificate> | undefined;

/**
 * Returns a self-signed P-256 certificate for `127.0.0.1`/`localhost`, generated once per process.
 * The key files live in a temp dir only while openssl runs.
 */
export function testCertificate(): Promise<TestCertificate> {
  cached ??= generate().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function generate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-api-tls-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    await execFileAsync(
      'openssl',
      [
        'req',
        '-x509',
        '-nodes',
        '-days',
        '2',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-subj',
        '/CN=kube-test-apiserver',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ],
      { timeout: 20_000 },
    );
    const [keyPem, certPem] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
    return { keyPem, certPem };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
