// GraphiQL and /docs in a real browser (Debian's chromium, driven by playwright-core), on a
// server with the default local backend (the demo project), as a newcomer opens them: every
// request to another origin is blocked and counted, and so is every attempt the pages' CSP
// stopped; both counts must stay zero. Screenshots go to the test's temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openApiDocument } from '../../src/rest/openapi.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let dir: string;
let shots: string;
let app: App;
let server: Server;
let base: string;
let browser: BrowserContext;
/** Requests to another origin (blocked), and what the pages' CSP refused or the pages threw. */
const outside: string[] = [];
const refused: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'rdev-browser-'));
  shots = path.join(dir, 'screenshots');
  app = await createApp(
    loadConfig({ PORT: '0', RDEV_DATA_DIR: path.join(dir, 'data'), RDEV_LOG_LEVEL: 'silent', RDEV_ON_SHUTDOWN: 'stop', RDEV_SHUTDOWN_GRACE_SECONDS: '0' }),
  );
  server = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 900 },
  });
  // GraphiQL's bundle is 9 MB of script: on a busy 2-core machine the first load is slow.
  browser.setDefaultTimeout(60_000);
  await browser.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  browser.on('request', (r) => {
    const url = new URL(r.url());
    if (url.origin !== base && url.protocol !== 'data:' && url.protocol !== 'blob:' && !outside.includes(url.href)) outside.push(url.href);
  });
  await browser.route('**/*', (route) => (new URL(route.request().url()).origin === base ? route.continue() : route.abort('blockedbyclient')));
  // Keep a copy of every SSE body the page reads (GraphiQL shows only a subscription's latest event).
  await browser.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __sse: string[] }).__sse = seen;
    const original = window.fetch;
    window.fetch = async (...args) => {
      const res = await original(...args);
      if ((res.headers.get('content-type') ?? '').includes('text/event-stream') && res.body) {
        const [mine, theirs] = res.body.tee();
        void (async () => {
          const reader = mine.getReader();
          const decoder = new TextDecoder();
          for (let r = await reader.read(); !r.done; r = await reader.read()) seen.push(decoder.decode(r.value, { stream: true }));
        })().catch(() => {
          // The page aborted the request (GraphiQL ends a finished subscription's fetch): the copy ends there too.
        });
        return new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
      }
      return res;
    };
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  await app?.close();
  server?.closeAllConnections();
  console.info(`browser test screenshots: ${shots}`);
  rmSync(path.join(dir, 'profile'), { recursive: true, force: true });
  rmSync(path.join(dir, 'data'), { recursive: true, force: true });
});

async function open(pathname: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${base}${pathname}`);
  return page;
}

/** Monaco renders spaces as U+00A0. */
const text = async (page: Page, selector: string): Promise<string> => (await page.locator(selector).innerText()).replace(/\u00a0/g, ' ');

/** Replaces the query editor's text with `value` as a person would: select all, paste (Ctrl+V). */
async function replaceQuery(page: Page, value: string, expected: string): Promise<void> {
  await page.evaluate((v) => navigator.clipboard.writeText(v), value);
  // The editor takes the focus a moment after the click on a busy machine: try again until the text is in.
  for (let attempt = 1; ; attempt++) {
    await page.locator('.graphiql-query-editor .monaco-editor').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Control+V');
    await page.keyboard.press('Control+Home');
    try {
      await page.locator('.graphiql-query-editor').getByText(expected).first().waitFor({ timeout: 5_000 });
      return;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

/** Runs the operation `name` of the editor's document (GraphiQL asks which one when there are several). */
async function run(page: Page, name: string): Promise<void> {
  await page.locator('.graphiql-execute-button').click();
  await page.getByRole('menuitem', { name, exact: true }).click();
}

describe('in a browser, offline', () => {
  it('GraphiQL opens with the example operations, runs runShell, and commandEvents streams its events', async () => {
    const page = await open('/graphql');
    const editor = page.locator('.graphiql-query-editor');
    await editor.getByText('mutation RunShell').waitFor();
    await page.screenshot({ path: path.join(shots, '1-graphiql-opened.png') });
    const opened = await text(page, '.graphiql-query-editor');
    for (const operation of ['query Projects', 'mutation RunShell', 'mutation RunGit', 'mutation RunClaude', 'subscription Watch'])
      expect(opened).toContain(operation);

    await run(page, 'RunShell');
    const response = page.locator('.graphiql-response');
    await response.getByText(/cmd-demo-/).waitFor();
    const started = JSON.parse(await text(page, '.graphiql-response'));
    expect(started).toEqual({
      data: { runShell: { id: expect.stringMatching(/^cmd-demo-/), status: 'RUNNING', argv: ['sh', '-c', 'ls -la && git log --oneline | head'] } },
    });
    await page.screenshot({ path: path.join(shots, '2-graphiql-runshell.png') });

    // As a person would: paste the id into the Watch subscription, run it.
    const id: string = started.data.runShell.id;
    const example = await page.evaluate(() => JSON.parse(document.getElementById('graphiql-options')!.textContent!).defaultQuery as string);
    await replaceQuery(page, example.replace('PASTE-COMMAND-ID', id), id);
    expect(await text(page, '.graphiql-query-editor')).toContain(`commandEvents(id: "${id}")`);
    await run(page, 'Watch');
    await response.getByText(/CommandCompleted/).waitFor();
    expect(JSON.parse(await text(page, '.graphiql-response'))).toEqual({
      data: {
        commandEvents: {
          __typename: 'CommandCompleted',
          seq: expect.any(Number),
          status: 'SUCCEEDED',
          exitCode: 0,
          durationMs: expect.any(Number),
          error: null,
        },
      },
    });
    await page.screenshot({ path: path.join(shots, '3-graphiql-subscription.png') });

    // What reached the page over SSE: the demo's listing and git log, then the completion.
    const streamed = (await page.evaluate(() => (window as unknown as { __sse: string[] }).__sse.join(''))).replace(/\r/g, '');
    const events = streamed
      .split('\n')
      .filter((l) => l.startsWith('data:') && l.includes('commandEvents'))
      .map((l) => JSON.parse(l.slice(5)).data.commandEvents);
    expect(events.at(-1)).toMatchObject({ __typename: 'CommandCompleted', status: 'SUCCEEDED' });
    const output = events
      .filter((e) => e.__typename === 'CommandOutput')
      .map((e) => e.text)
      .join('');
    expect(output).toContain('package.json');
    expect(output).toContain('Initial commit: slugify and wordCount, with tests');
    await page.close();
  });

  it('/docs renders every REST route of /openapi.json', async () => {
    const page = await open('/docs');
    await page.getByText('rdev-api REST shims').first().waitFor();
    await page.getByText('Run a shell command').first().waitFor();
    await page.screenshot({ path: path.join(shots, '4-docs.png') });
    const body = (await page.locator('body').innerText()).replace(/\s+/g, ' ');
    const paths = openApiDocument().paths as Record<string, Record<string, { summary: string }>>;
    const summaries = Object.values(paths).flatMap((item) => Object.values(item).map((op) => op.summary));
    expect(summaries.filter((s) => !body.includes(s))).toEqual([]);
    await page.close();
  });

  it('nothing left the server: no request to another origin, nothing refused by the pages, no page error', () => {
    expect({ outside, refused, pageErrors }).toEqual({ outside: [], refused: [], pageErrors: [] });
  });
});
