// Test harness for the browser tests: a real `taskmill serve` on a free port with
// SQLite in a temporary directory, and headless Chromium (Debian's /usr/bin/chromium)
// driven by playwright-core.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');
// Screenshots are build output, kept out of the repository.
export const artifactsDir = join(repoRoot, 'build', 'browser-artifacts');

// Generous: the 2-core CI machine may be busy with other test suites.
export const TIMEOUT = 30_000;

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The example configuration plus tasks that only the browser tests use, inserted at
// the top of its `tasks:` map.
const EXTRA_TASKS = `  # added by tests/browser/harness.js
  ui-sleep:
    kind: single_shot
    func_name: demo.sleep
    args: [4]
`;

function binaryPath() {
  const fromEnv = process.env.TASKMILL_BINARY;
  return fromEnv ? resolve(process.cwd(), fromEnv) : join(repoRoot, 'build', 'taskmill');
}

// Starts `taskmill serve` and resolves once it printed its URL.
// `tasks`: more YAML entries for the `tasks:` map (indented by two spaces).
// `config`: more top-level YAML sections (a `flows:` map), added at the end.
export async function startServer({ env = {}, setup, tasks = '', config: more = '' } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'taskmill-ui-test-'));
  const example = await readFile(join(repoRoot, 'examples', 'taskmill.yaml'), 'utf8');
  const config = join(dir, 'taskmill.yaml');
  if (!/^tasks:\n/m.test(example)) throw new Error('examples/taskmill.yaml has no tasks: section');
  await writeFile(config, `${example.replace(/^tasks:\n/m, `tasks:\n${EXTRA_TASKS}${tasks}`)}\n${more}`);
  const dataDir = join(dir, 'data');
  const binary = binaryPath();
  const common = ['--config', config, '--data-dir', dataDir];
  if (setup) {
    try {
      await setup({ binary, common, dir });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  // Relative paths of the example (its command task's script) are relative to the
  // repository root, as in the quick start.
  const child = spawn(binary, ['serve', ...common, '--listen', '127.0.0.1:0'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  const url = await new Promise((resolvePromise, reject) => {
    let settled = false;
    const fail = (error) => {
      if (settled) return; // an exit after the start is stop()'s business
      settled = true;
      if (child.exitCode === null) child.kill('SIGKILL');
      rm(dir, { recursive: true, force: true }).finally(() => reject(error));
    };
    let buffer = '';
    const timer = setTimeout(() => fail(new Error(`taskmill serve printed no URL within 20 s:\n${log.join('')}`)), 20_000);
    const onData = (chunk) => {
      const text = chunk.toString();
      log.push(text);
      buffer += text;
      const match = /listening on (http:\/\/[^\s]+)/.exec(buffer);
      if (match && !settled) {
        settled = true;
        clearTimeout(timer);
        resolvePromise(match[1].replace(/\/$/, ''));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => log.push(chunk.toString()));
    child.on('error', (error) => {
      clearTimeout(timer);
      fail(new Error(`cannot start ${binary}: ${error.message} (build it with scripts/build.sh)`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`taskmill serve exited with ${code} before listening:\n${log.join('')}`));
    });
  });

  const server = {
    url,
    log,
    binary,
    dir,
    // Calls the HTTP API from the test (node's fetch), for setup and checks.
    async api(path, { method = 'GET', body, headers = {} } = {}) {
      const response = await fetch(url + path, {
        method,
        headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = text;
      }
      if (!response.ok) {
        const error = new Error(`${method} ${path}: ${response.status} ${text}`);
        error.status = response.status;
        error.data = data;
        throw error;
      }
      return data;
    },
    async hasRoute(path) {
      const response = await fetch(url + path);
      await response.arrayBuffer();
      return response.status !== 404;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

// Launches Chromium with a fresh profile; `errors` collects console errors and
// uncaught page errors of every page opened with newPage().
export async function launchBrowser() {
  const profile = await mkdtemp(join(tmpdir(), 'taskmill-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
  });
  context.setDefaultTimeout(TIMEOUT);
  const errors = [];
  const watch = (page) => {
    page.on('console', (message) => {
      if (message.type() === 'error') {
        errors.push({ page: page.url(), text: message.text(), url: message.location().url || '' });
      }
    });
    page.on('pageerror', (error) => errors.push({ page: page.url(), text: `uncaught: ${error.message}`, url: '' }));
  };
  context.on('page', watch);
  for (const page of context.pages()) watch(page);
  return {
    context,
    errors,
    // A new page; the pages of earlier tests are closed so that they stop polling.
    async newPage({ width = 1440, height = 900 } = {}) {
      const page = await context.newPage();
      for (const other of context.pages()) if (other !== page) await other.close();
      await page.setViewportSize({ width, height });
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name) {
  await mkdir(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

// Waits until `read()` returns a value for which `check(value)` holds; polls the page
// state rather than sleeping a fixed time.
export async function waitUntil(read, check, { timeout = TIMEOUT, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await read();
    if (check(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// A proxy in front of the server that plays an event stream the test controls: it
// answers GET /api/v1/openapi.json with a document listing GET /api/v1/events, holds
// GET /api/v1/events open as text/event-stream, and forwards everything else. It
// checks the UI's SSE client whatever stage the server's own stream is at.
export async function startEventProxy(target) {
  const clients = new Set();
  const connections = []; // request headers of each event-stream connection
  const openapi = {
    openapi: '3.1.0',
    info: { title: 'taskmill (test proxy)', version: '0' },
    paths: {
      '/api/v1/events': { get: { parameters: [] } },
      '/api/v1/runs': { get: {}, post: {} },
      '/api/v1/runs/{id}': { get: {}, delete: {} },
      '/api/v1/runs/{id}/cancel': { post: {} },
      '/api/v1/runs/{id}/retry': { post: {} },
      '/api/v1/tasks': { get: {} },
      '/api/v1/tasks/{name}/start': { post: {} },
      '/api/v1/functions': { get: {} },
      '/api/v1/stats': { get: {} },
    },
  };
  const proxy = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/api/v1/openapi.json') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(openapi));
      return;
    }
    if (req.method === 'GET' && req.url.startsWith('/api/v1/events')) {
      connections.push(req.headers);
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write(': connected\n\n');
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    const upstream = http.request(target + req.url, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    clients,
    connections,
    // Sends raw text to every connected stream (the test chooses the framing).
    send(text) {
      for (const res of clients) res.write(text);
    },
    // Ends every stream, as a server restart would.
    drop() {
      for (const res of clients) res.end();
      clients.clear();
    },
    async close() {
      this.drop();
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    },
  };
}
