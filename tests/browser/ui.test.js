// Browser tests of the web UI that `taskmill serve` embeds: headless Chromium against
// a real server (SQLite in a temp dir, the example configuration). Run from this
// folder: TASKMILL_BINARY=../../build/taskmill node --test
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { TIMEOUT, launchBrowser, screenshot, startEventProxy, startServer, waitUntil } from './harness.js';

let server;
let browser;
let serverHasOpenApi = false;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  serverHasOpenApi = await server.hasRoute('/api/v1/openapi.json');
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// The UI reads GET /api/v1/openapi.json once to learn which optional routes exist.
// Until the server serves that document the request answers 404, which Chromium
// logs as a console error; that one message is expected, nothing else is.
function unexpectedErrors() {
  return browser.errors.filter(
    (e) =>
      !(!serverHasOpenApi && /status of 404/.test(e.text) && e.url.endsWith('/api/v1/openapi.json')) &&
      // The upload test sends an invalid CSV on purpose; the browser logs the 4xx answer.
      !(/status of 4\d\d/.test(e.text) && e.url.includes('/api/v1/runs?function=')),
  );
}

const statusOf = (page, runId) => page.locator(`tr[data-run-id="${runId}"] .status`);

async function countOf(page, status) {
  const text = await page.locator(`a[data-status="${status}"] .count-value`).textContent();
  return Number(text.replace(/[^0-9]/g, ''));
}

test('starting a task from the Tasks page: its row goes pending → running → completed without a reload', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/tasks`);
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const row = page.locator('tr[data-task="ui-sleep"]');
  await row.getByRole('button', { name: 'Start task ui-sleep now' }).click();
  const dialog = page.getByRole('dialog', { name: 'Start task ui-sleep' });
  await dialog.waitFor();
  // Prefilled with the task's args; start 4 s from now so "pending" lasts long
  // enough to be seen whatever the refresh timing.
  assert.deepEqual(JSON.parse(await dialog.getByLabel('Arguments (JSON)').inputValue()), [4]);
  await dialog.getByText('More options').click();
  await dialog.getByLabel('Start after (seconds)').fill('4');
  await dialog.getByRole('button', { name: 'Start now' }).click();
  const viewRun = page.getByRole('link', { name: 'View run' });
  await viewRun.waitFor();
  const runId = decodeURIComponent((await viewRun.getAttribute('href')).split('/').pop());
  await dialog.waitFor({ state: 'hidden' });

  // Record every status the run's row shows, from before the Runs page exists.
  await page.evaluate((id) => {
    window.__seen = [];
    const record = () => {
      const badge = document.querySelector(`tr[data-run-id="${id}"] .status`);
      const text = badge && badge.textContent.trim();
      if (text && window.__seen[window.__seen.length - 1] !== text) window.__seen.push(text);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, runId);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' }).click();
  await statusOf(page, runId).filter({ hasText: /^completed$/ }).waitFor({ timeout: 40_000 });
  const seen = await page.evaluate(() => window.__seen);
  assert.deepEqual(seen, ['pending', 'running', 'completed'], `statuses shown: ${seen.join(' → ')}`);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  await screenshot(page, 'runs-live-1440');
});

test('the args editor refuses invalid JSON before anything is sent', async () => {
  const page = await browser.newPage();
  const starts = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().includes('/api/v1/tasks/echo/start')) starts.push(r.url());
  });
  await page.goto(`${server.url}/tasks`);
  await page.getByRole('button', { name: 'Start task echo now' }).click();
  const dialog = page.getByRole('dialog', { name: 'Start task echo' });
  const args = dialog.getByLabel('Arguments (JSON)');
  await args.fill('["hello", ');
  await dialog.getByText(/^Not valid JSON/).waitFor();
  assert.equal(await args.getAttribute('aria-invalid'), 'true');
  assert.equal(await dialog.getByRole('button', { name: 'Start now' }).isDisabled(), true);
  await args.fill('"just a string"');
  await dialog.getByText(/Must be a JSON array/).waitFor();
  assert.equal(await dialog.getByRole('button', { name: 'Start now' }).isDisabled(), true);
  await screenshot(page, 'start-dialog-invalid-1440');
  await args.fill('["hello", 1]');
  await dialog.getByRole('button', { name: 'Start now' }).click();
  await page.getByRole('link', { name: 'View run' }).waitFor();
  assert.equal(starts.length, 1, 'exactly one start request, after the JSON was fixed');
});

test('cancel a long run from its page', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/functions`);
  await page.getByRole('button', { name: 'Run demo.sleep once' }).click();
  const dialog = page.getByRole('dialog', { name: 'Run demo.sleep' });
  await dialog.getByLabel('Arguments (JSON)').fill('[600]');
  await dialog.getByRole('button', { name: 'Run now' }).click();
  await page.waitForURL(/\/runs\/[^/]+$/);
  const runId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  const badge = page.locator('h1 .status');
  await badge.filter({ hasText: /^running$/ }).waitFor();
  await screenshot(page, 'run-running-1440');

  await page.getByRole('button', { name: 'Cancel run' }).click();
  const confirm = page.getByRole('dialog', { name: 'Cancel this run?' });
  await confirm.getByRole('button', { name: 'Cancel run' }).click();
  await badge.filter({ hasText: /^stopped$/ }).waitFor();
  const run = await server.api(`/api/v1/runs/${encodeURIComponent(runId)}`);
  assert.equal(run.status, 'stopped');
  // Final: Retry and Delete are offered, Cancel is not.
  await page.getByRole('button', { name: 'Retry' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Cancel run' }).count(), 0);
  await screenshot(page, 'run-stopped-1440');

  // Retry runs it again (attempt 2); cancel that too, then delete the run.
  await page.getByRole('button', { name: 'Retry' }).click();
  await badge.filter({ hasText: /^running$/ }).waitFor();
  await page.getByText('2 of 2').waitFor();
  await page.getByRole('button', { name: 'Cancel run' }).click();
  await confirm.getByRole('button', { name: 'Cancel run' }).click();
  await badge.filter({ hasText: /^stopped$/ }).waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog', { name: 'Delete this run?' }).getByRole('button', { name: 'Delete run' }).click();
  await page.waitForURL(/\/runs$/);
  await assert.rejects(server.api(`/api/v1/runs/${encodeURIComponent(runId)}`), (error) => error.status === 404);
});

test('bulk select on the Runs page cancels the selected runs', async () => {
  const { runs } = await server.api('/api/v1/runs:batch', {
    method: 'POST',
    body: { runs: [{ function: 'demo.sleep', args: [600] }, { function: 'demo.sleep', args: [600] }] },
  });
  const page = await browser.newPage();
  await page.goto(`${server.url}/runs?function=demo.sleep&status=running`);
  for (const run of runs) {
    await page.locator(`tr[data-run-id="${run.id}"]`).waitFor();
    await page.getByRole('checkbox', { name: `Select run ${run.id}` }).check();
  }
  await page.getByRole('button', { name: 'Cancel 2' }).click();
  await page.getByRole('dialog', { name: 'Cancel 2 runs?' }).getByRole('button', { name: 'Cancel runs' }).click();
  await page.getByText('Cancelled 2 runs.').waitFor();
  for (const run of runs) {
    await waitUntil(
      () => server.api(`/api/v1/runs/${run.id}`).then((r) => r.status),
      (status) => status === 'stopped',
      { what: `run ${run.id} stopped` },
    );
  }
  // The list was filtered on running runs: the stopped ones leave it live.
  for (const run of runs) await page.locator(`tr[data-run-id="${run.id}"]`).waitFor({ state: 'detached' });
});

test('dashboard counters move as runs complete', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.locator('a[data-status="completed"] .count-value').waitFor();
  const completed = await countOf(page, 'completed');
  const total = await countOf(page, 'total');
  await server.api('/api/v1/runs:batch', {
    method: 'POST',
    body: { runs: [1, 2, 3].map((n) => ({ function: 'demo.echo', args: [n] })) },
  });
  await waitUntil(() => countOf(page, 'completed'), (n) => n >= completed + 3, { what: 'completed count +3' });
  assert.ok((await countOf(page, 'total')) >= total + 3);
  await screenshot(page, 'dashboard-counters-1440');
});

test('keyboard: skip link, then a dialog that opens with Enter, closes with Escape and gives focus back', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/tasks`);
  await page.locator('tr[data-task="echo"]').waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main', 'the skip link moves focus to the content');

  const button = page.getByRole('button', { name: 'Start task echo now' });
  await button.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Start task echo' });
  await dialog.waitFor();
  assert.equal(await page.evaluate(() => Boolean(document.activeElement.closest('dialog'))), true, 'focus moved into the dialog');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await button.evaluate((el) => el === document.activeElement), true, 'focus returned to the button');
});

test('live updates over server-sent events: a streamed event shows a new run at once, and a dropped stream resumes with Last-Event-ID', async () => {
  const proxy = await startEventProxy(server.url);
  try {
    const page = await browser.newPage();
    await page.goto(`${proxy.url}/runs`);
    await page.locator('[data-live="streaming"]').waitFor();
    await page.locator('tr[data-run-id]').first().waitFor();
    await waitUntil(() => proxy.clients.size, (n) => n === 1, { what: 'one event-stream connection' });

    // While streaming, pages refresh only every 30 s on their own: a row that shows
    // up within 5 s was fetched because of the event.
    const run = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', args: ['sse'] } });
    proxy.send(': keep-alive comment\r\n\r\n');
    proxy.send('event: run.created\r\nid: 41\r\nda'); // one event split across writes, CRLF lines
    proxy.send(`ta: {"run_id":"${run.id}","queue":"default","status":"pending"}\r\n\r\n`);
    await page.locator(`tr[data-run-id="${run.id}"]`).waitFor({ timeout: 5000 });

    proxy.drop();
    await waitUntil(() => proxy.connections.length, (n) => n >= 2, { what: 'a reconnection' });
    assert.equal(proxy.connections[1]['last-event-id'], '41');
    await page.locator('[data-live="streaming"]').waitFor();
    await screenshot(page, 'runs-streaming-1440');
    await page.close();
  } finally {
    await proxy.close();
  }
});

test("live updates from the server's own event stream: runs created through the API appear on the filtered runs page without a reload", async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/runs?function=demo.fail`);
  await page.locator('[data-live="streaming"]').waitFor();
  await page.locator('.runs-table, .empty').first().waitFor();
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const requests = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/runs?')) requests.push(r.url());
  });
  // While streaming, the page refreshes on its own only every 30 s: a row within 15 s
  // of the page connecting came with an event.
  const other = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', args: ['not shown'] } });
  const run = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.fail', args: ['live'] } });
  const row = page.locator(`tr[data-run-id="${run.id}"]`);
  await row.waitFor({ timeout: 15_000 });
  // Its status follows the run to the end (demo.fail fails at once).
  await row.locator('.status').filter({ hasText: /^failed$/ }).waitFor({ timeout: 15_000 });
  assert.equal(await page.locator(`tr[data-run-id="${other.id}"]`).count(), 0, 'a run of another function is not shown');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  assert.ok(requests.length > 0 && requests.every((u) => u.includes('function=demo.fail')), 'refreshes keep the filter');
  await page.close();
});

test('the run page follows a run to its final status from the event stream, without a reload', async () => {
  const run = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.sleep', args: [2], delay: 1 } });
  const page = await browser.newPage();
  await page.goto(`${server.url}/runs/${encodeURIComponent(run.id)}`);
  await page.locator('[data-live="streaming"]').waitFor();
  await page.evaluate(() => {
    window.__sameDocument = true;
    window.__seen = [];
    const record = () => {
      const badge = document.querySelector('h1 .status');
      const text = badge && badge.textContent.trim();
      if (text && window.__seen[window.__seen.length - 1] !== text) window.__seen.push(text);
    };
    record();
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  // Pages refresh on their own every 30 s while streaming: within 20 s, events did it.
  await page.locator('h1 .status').filter({ hasText: /^completed$/ }).waitFor({ timeout: 20_000 });
  const seen = await page.evaluate(() => window.__seen);
  assert.deepEqual(seen.slice(-2), ['running', 'completed'], `statuses shown: ${seen.join(' → ')}`);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  await page.getByRole('button', { name: 'Retry' }).waitFor();
  await page.close();
});

test('dashboard: the throughput chart comes from the server, runners show their slots, the scheduler its leader', async () => {
  const { runs } = await server.api('/api/v1/runs:batch', {
    method: 'POST',
    body: { runs: [1, 2, 3].map((n) => ({ function: 'demo.echo', args: [n] })) },
  });
  for (const run of runs) {
    await waitUntil(() => server.api(`/api/v1/runs/${run.id}`).then((r) => r.status), (s) => s === 'completed', { what: `run ${run.id} completed` });
  }
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  const chart = page.locator('section[data-throughput="server"]');
  await chart.locator('.chart canvas').first().waitFor();
  await waitUntil(
    () => chart.locator('[data-finished-total]').getAttribute('data-finished-total').catch(() => '0'),
    (n) => Number(n) >= 3,
    { what: 'the server-side throughput counts the finished runs' },
  );
  await chart.getByText(/Counted by this server/).waitFor();

  // The local runner of this process, with the configured 16 slots.
  const runners = page.getByRole('region', { name: 'Runners' });
  await runners.locator('li[data-runner] .slots').filter({ hasText: /^\d+ \/ 16 slots$/ }).first().waitFor();
  await runners.getByRole('meter').first().waitFor();

  // serve plays the scheduler role: it leads, and says so.
  const scheduler = page.getByRole('region', { name: 'Scheduler' });
  await waitUntil(
    () => scheduler.locator('dd[data-leader]').getAttribute('data-leader').catch(() => ''),
    (leader) => Boolean(leader),
    { what: 'a scheduler leader', timeout: 40_000 },
  );
  await scheduler.getByText('this server').waitFor();
  await scheduler.getByText('Scheduled tasks').waitFor();
  await screenshot(page, 'dashboard-1440');
  await page.close();
});

test('the UI files are served gzip-compressed to clients that accept it, plain to the others', async () => {
  const { get } = await import('node:http');
  const { gunzipSync } = await import('node:zlib');
  const fetchRaw = (path, headers) =>
    new Promise((resolve, reject) => {
      get(server.url + path, { headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
  const index = await fetchRaw('/', {});
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(index.body.toString())[1];
  const style = /href="(\/assets\/[^"]+\.css)"/.exec(index.body.toString())[1];
  for (const path of ['/', script, style, '/runs/some-run']) {
    const plain = await fetchRaw(path, {});
    const gzipped = await fetchRaw(path, { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined, `${path} plain`);
    assert.equal(gzipped.headers['content-encoding'], 'gzip', `${path} compressed`);
    assert.equal(gzipped.headers.vary, 'Accept-Encoding');
    assert.equal(gzipped.headers['content-type'], plain.headers['content-type']);
    assert.equal(gzipped.headers['cache-control'], plain.headers['cache-control']);
    assert.ok(gzipped.body.length < plain.body.length, `${path}: ${gzipped.body.length} < ${plain.body.length}`);
    assert.ok(gunzipSync(gzipped.body).equals(plain.body), `${path} decompresses to the plain file`);
  }
  // Chromium asks for it, and gets it.
  const page = await browser.newPage();
  const encodings = new Map();
  page.on('response', (r) => {
    if (r.url().includes('/assets/')) encodings.set(new URL(r.url()).pathname, r.headers()['content-encoding']);
  });
  await page.goto(`${server.url}/`);
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  assert.equal(encodings.get(script), 'gzip');
  await page.close();
});

test('runs page at 390 px: filters, bulk actions and run cards fit without sideways scrolling', async () => {
  const page = await browser.newPage({ width: 390, height: 844 });
  await page.goto(`${server.url}/runs`);
  await page.locator('tr[data-run-id]').first().waitFor();
  // On a phone the filters are folded behind one line; opened, every filter this server offers is there (the anonymous admin of a loopback
  // server may filter by account), each with its label.
  await page.locator('.filter-box > summary').click();
  for (const label of ['Status', 'Task', 'Function', 'Queue', 'Account', 'Created after', 'Created before']) {
    await page.getByLabel(label, { exact: true }).waitFor();
  }
  await page.getByLabel('Select all', { exact: true }).check();
  await page.getByRole('toolbar', { name: 'Actions on selected runs' }).getByText(/selected/).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the runs page at 390 px scrolls sideways by ${overflow} px`);
  await screenshot(page, 'runs-selected-390');
  await page.close();
});

test('every page renders at 1440 px and 390 px, with labelled controls and no horizontal scrolling', async () => {
  const { runs } = await server.api('/api/v1/runs:batch', {
    method: 'POST',
    body: { runs: [{ function: 'demo.echo', args: ['screenshot'] }, { function: 'demo.fail', max_attempts: 2 }] },
  });
  for (const run of runs) {
    await waitUntil(() => server.api(`/api/v1/runs/${run.id}`).then((r) => r.status), (s) => s !== 'pending' && s !== 'running', {
      what: `run ${run.id} final`,
    });
  }
  const pages = [
    ['dashboard', '/', '.counts'],
    ['tasks', '/tasks', 'tr[data-task="echo"]'],
    ['runs', '/runs', 'tr[data-run-id]'],
    ['functions', '/functions', 'article[data-function="demo.echo"]'],
    ['run-completed', `/runs/${runs[0].id}`, '#attempts-title'],
    ['run-failed', `/runs/${runs[1].id}`, '#error-title'],
    ['not-found', '/no/such/page', 'h1'],
  ];
  for (const width of [1440, 390]) {
    const page = await browser.newPage({ width, height: width === 390 ? 844 : 900 });
    for (const [name, path, ready] of pages) {
      await page.goto(server.url + path);
      await page.locator(ready).first().waitFor();
      await page.locator('.loading').first().waitFor({ state: 'detached' });
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll('input, select, textarea, button')]
          .filter((el) => el.offsetParent !== null)
          .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
          .map((el) => el.outerHTML.slice(0, 80)),
      );
      assert.deepEqual(unlabelled, [], `${name}: controls without a label`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name} at ${width} px scrolls sideways by ${overflow} px`);
      await screenshot(page, `${name}-${width}`);
    }
    await page.close();
  }
});

test('upload a CSV: a bad row is listed, the fixed file runs and is followed to its end, the output downloads', async () => {
  const { functions } = await server.api('/api/v1/functions');
  assert.ok(
    functions.some((f) => f.name === 'numbers.import'),
    'the binary registers the numbers.import CSV function (examples/numbers)',
  );
  const page = await browser.newPage();
  await page.goto(`${server.url}/functions#fn-numbers.import`);
  const card = page.locator('article[data-function="numbers.import"]');
  await card.getByText('Upload a CSV file…').click();
  const file = card.getByLabel('CSV file', { exact: true });
  await file.setInputFiles({
    name: 'bad.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('e164,carrier\n+14155550100,acme\n,acme\n+14155550102,acme\n'),
  });
  await card.getByRole('button', { name: 'Upload and run' }).click();
  const problems = card.locator('.csv-errors');
  await problems.waitFor();
  const text = await problems.textContent();
  assert.equal((await problems.locator('tbody td').first().textContent()).trim(), '3', `the bad row's line (3) is listed: ${text}`);
  assert.match(text, /e164/, `the column is named: ${text}`);
  await screenshot(page, 'csv-upload-errors-1440');

  await file.setInputFiles({
    name: 'good.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('e164,carrier\n+14155550100,acme\n12,acme\n+14155550102,acme\n'),
  });
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  await card.getByRole('button', { name: 'Upload and run' }).click();
  await page.waitForURL(/\/runs\/[^/]+/);
  // The run page follows the run to its final status (events, or polling meanwhile)
  // without a reload.
  await page.locator('h1 .status').filter({ hasText: /^(partial|completed)$/ }).waitFor({ timeout: 60_000 });
  await page.locator('#progress-title').waitFor();
  await page.locator('.progress-text').filter({ hasText: /3 of 3 rows/ }).waitFor();
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  await screenshot(page, 'run-csv-1440');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download output CSV' }).or(page.getByRole('link', { name: 'Download output CSV' })).click(),
  ]);
  const stream = await download.createReadStream();
  let output = '';
  for await (const chunk of stream) output += chunk.toString();
  const header = output.split(/\r?\n/)[0].split(',');
  assert.ok(header.includes('e164') && header.includes('error'), `output header: ${header}`);
  assert.match(output, /bad field\(s\) e164/);
});

test('sign-in flow: a 401 shows the sign-in page, a wrong token is refused, the right one is kept for the tab', async () => {
  // A stand-in for a server with tokens: every API request without
  // "Authorization: Bearer good-token" answers 401, the others go to the server.
  const page = await browser.newPage();
  const before = browser.errors.length;
  const seenHeaders = [];
  await page.route('**/api/v1/**', (route) => {
    const auth = route.request().headers().authorization || '';
    seenHeaders.push(auth);
    if (auth === 'Bearer good-token') return route.continue();
    return route.fulfill({
      status: 401,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'unauthenticated', message: 'a bearer token is required', details: {} } }),
    });
  });
  await page.goto(`${server.url}/runs`);
  await page.getByRole('heading', { name: 'Sign in to taskmill' }).waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0, 'nothing but the sign-in page');
  await screenshot(page, 'signin-1440');
  const field = page.getByLabel('Token');
  await field.fill('wrong-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That token was not accepted').waitFor();
  await field.fill('good-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
  await page.locator('tr[data-run-id]').first().waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('taskmill.token')), 'good-token');
  assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie is set');
  // A reload keeps the token for this tab; signing out forgets it.
  await page.reload();
  await page.locator('tr[data-run-id]').first().waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to taskmill' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('taskmill.token')), null);
  assert.ok(seenHeaders.includes('Bearer good-token'));
  await page.close();
  // The 401 answers above are logged by Chromium as console errors: expected here.
  const mine = browser.errors.splice(before);
  browser.errors.push(...mine.filter((e) => !/status of 401/.test(e.text)));
});

test('sign in with a real token: the form appears, a wrong token is refused, an admin sees the account filter, an account token does not', async () => {
  let token = '';
  const tokenServer = await startServer({
    setup: async ({ binary, common }) => {
      const made = spawnSync(binary, ['token', 'create', '--admin', ...common], { encoding: 'utf8', timeout: TIMEOUT });
      assert.equal(made.status, 0, `taskmill token create failed: ${made.stderr}`);
      token = made.stdout.trim();
    },
  });
  try {
    assert.match(token, /^tm_[A-Za-z0-9_-]{20,}$/);
    const open = await fetch(`${tokenServer.url}/api/v1/stats`);
    assert.equal(open.status, 401, 'the server asks for a token once one exists');
    const page = await browser.newPage();
    await page.goto(`${tokenServer.url}/`);
    const field = page.getByLabel('Token');
    await field.waitFor();
    assert.equal(await field.getAttribute('type'), 'password');
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0, 'nothing but the sign-in form');
    await field.fill('tm_not-a-valid-token-at-all-000000000000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token was not accepted').waitFor();
    await screenshot(page, 'signin-real-1440');
    await field.fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    // The event stream carries the token too (fetch, not EventSource).
    await page.locator('[data-live="streaming"]').waitFor();
    await page.locator('.who').filter({ hasText: '(admin)' }).waitFor();
    assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie is set');

    // An admin may filter the runs by account.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' }).click();
    await page.locator('#filter-account').waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.locator('#filter-account').waitFor();

    // An account token sees no account filter: it lists its own account's runs only.
    const made = await tokenServer.api('/api/v1/tokens', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: { name: 'acme-ui', account: 'acme' },
    });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to taskmill' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('taskmill.token')), null);
    await page.getByLabel('Token').fill(made.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.locator('.who').filter({ hasText: 'acme-ui (acme)' }).waitFor();
    await page.locator('#filter-status').waitFor();
    await page.locator('.loading').first().waitFor({ state: 'detached' });
    assert.equal(await page.locator('#filter-account').count(), 0, 'no account filter for an account token');
    await page.close();
    // The refused attempts above are 401s, which Chromium logs as console errors.
    browser.errors.splice(0, browser.errors.length, ...browser.errors.filter((e) => !e.page.startsWith(tokenServer.url)));
  } finally {
    await tokenServer.stop();
  }
});

test('a continuous task shows its live run and how often it restarted', async () => {
  // Its own server: a task that restarts every second would add runs under the other
  // tests' feet.
  const consumerServer = await startServer({
    tasks: `  ui-consumer:
    kind: continuous
    func_name: demo.echo
    args: ["consumed"]
    pause_sec: 1
`,
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${consumerServer.url}/tasks`);
    const row = page.locator('tr[data-task="ui-consumer"]');
    await row.waitFor();
    // Each run ends at once and is replaced a second later: the count goes up live.
    await row.getByText(/^[2-9]\d* restarts$|^\d{2,} restarts$/).waitFor();
    const task = await consumerServer.api('/api/v1/tasks/ui-consumer');
    assert.ok(task.restart_count >= 2, `restart_count ${task.restart_count}`);
    assert.ok(task.live_run === null || ['pending', 'running'].includes(task.live_run.status));
    await screenshot(page, 'tasks-continuous-1440');
    await page.close();
  } finally {
    await consumerServer.stop();
  }
});

test('no console errors on any page', () => {
  assert.deepEqual(unexpectedErrors(), []);
});
