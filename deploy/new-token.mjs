#!/usr/bin/env node
// Makes a new rdev-api token. Prints the token on stderr (hand it to the client: it is not
// kept anywhere) and, on stdout, the tokens.yaml entry that holds only its sha256, for the
// rdev-api-tokens Secret (deploy/k8s/secrets/rdev-api-tokens.yaml).
//   node deploy/new-token.mjs <name> <viewer|operator|admin> [project ...] >> tokens.yaml
import { createHash, randomBytes } from 'node:crypto';
import process from 'node:process';

const ROLES = ['viewer', 'operator', 'admin'];
const [name, role, ...projects] = process.argv.slice(2);
if (!name || !ROLES.includes(role ?? '')) {
  process.stderr.write(`usage: node deploy/new-token.mjs <name> <${ROLES.join('|')}> [project ...]\n`);
  process.exit(2);
}
const token = randomBytes(32).toString('base64url');
const sha256 = createHash('sha256').update(token).digest('hex');
process.stderr.write(`token for ${name} (shown once): ${token}\n`);
// JSON strings are YAML strings: no quoting surprises whatever the name.
const entry = [`  - name: ${JSON.stringify(name)}`, `    sha256: ${sha256}`, `    role: ${role}`];
if (projects.length > 0) entry.push(`    projects: ${JSON.stringify(projects)}`);
process.stdout.write(`${entry.join('\n')}\n`);
