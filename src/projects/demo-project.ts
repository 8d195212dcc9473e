import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The local backend's `demo` project: a small Node package of its own (a source file, its tests,
 * `npm test` → `node --test`, a git history), so that the README's examples (`npm test`,
 * `git log`, a Claude prompt about "this project") make sense in it. Its own `package.json` is
 * also what stops npm from walking up into the checkout of rdev-api around it (the default
 * data directory, `./.rdev`, is inside it).
 */
export const DEMO_FILES: Readonly<Record<string, string>> = {
  'package.json': `${JSON.stringify(
    {
      name: 'demo',
      version: '1.0.0',
      private: true,
      description: 'A small project created by rdev-api for its local backend',
      type: 'module',
      scripts: { test: 'node --test' },
      engines: { node: '>=20' },
    },
    null,
    2,
  )}\n`,
  'README.md': `# demo

A small project that rdev-api creates for its local backend, to try commands on:

    npm test          # node --test: the tests in test/
    git log --oneline

\`src/text.js\` has two functions, \`slugify\` and \`wordCount\`; \`test/text.test.js\` tests them.
`,
  '.gitignore': 'node_modules/\n',
  'src/text.js': `/** Lowercase words of letters and digits joined by "-": "Hello, World!" → "hello-world". */
export function slugify(text) {
  return text
    .normalize('NFKD')
    .replace(/[\\u0300-\\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** How many words \`text\` has (runs of letters, digits and apostrophes). */
export function wordCount(text) {
  return (text.match(/[\\p{L}\\p{N}']+/gu) ?? []).length;
}
`,
  'test/text.test.js': `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slugify, wordCount } from '../src/text.js';

test('slugify keeps lowercase words joined by dashes', () => {
  assert.equal(slugify('Hello, World!'), 'hello-world');
});

test('slugify drops accents', () => {
  assert.equal(slugify('Crème brûlée'), 'creme-brulee');
});

test('wordCount counts words, not spaces', () => {
  assert.equal(wordCount('  one two   three '), 3);
  assert.equal(wordCount(''), 0);
});
`,
};

/** Runs git in `dir` as rdev-bot, whatever the machine's git configuration says. */
function git(dir: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.name=rdev-bot', '-c', 'user.email=rdev-bot@localhost', '-c', 'commit.gpgsign=false', ...args], {
    cwd: dir,
    stdio: 'ignore',
  });
}

/** Writes the files of {@link DEMO_FILES} that `dir` lacks; returns their names. */
function writeMissing(dir: string): string[] {
  const written: string[] = [];
  for (const [name, text] of Object.entries(DEMO_FILES)) {
    const file = path.join(dir, name);
    if (existsSync(file)) continue;
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    written.push(name);
  }
  return written;
}

/**
 * Creates the demo project in `dir` (a git repository with one commit) unless it is there. A demo
 * made by an older rdev-api (a README alone, no `package.json`) gets the files it lacks in a
 * second commit; a demo that has a `package.json` is left as it is, whatever was done in it since.
 */
export function ensureDemoProject(dir: string): void {
  if (existsSync(path.join(dir, '.git'))) {
    if (existsSync(path.join(dir, 'package.json'))) return;
    const added = writeMissing(dir);
    git(dir, 'add', '--', ...added);
    git(dir, 'commit', '-q', '-m', 'A package with a source file and its tests (npm test)');
    return;
  }
  mkdirSync(dir, { recursive: true });
  writeMissing(dir);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '--', ...Object.keys(DEMO_FILES));
  git(dir, 'commit', '-q', '-m', 'Initial commit: slugify and wordCount, with tests');
}
