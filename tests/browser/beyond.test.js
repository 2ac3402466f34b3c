// What the UI has beyond peer dashboards, and the runs list's own "Run now", at 1440 and
// 390 px: the dashboard's per-queue sparklines, "Run now" on the rows of scheduled and
// retrying runs, and the keyboard (/, j, k, Enter, r). A real `taskmill serve` (SQLite
// in a temp dir) and headless Chromium, as ui.test.js.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, screenshot, startServer, waitUntil } from './harness.js';

const WIDTHS = [1440, 390];
let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const later = (seconds) => new Date(Date.now() + seconds * 1000).toISOString();

async function finish(queue, fn, n) {
  const { runs } = await server.api('/api/v1/runs:batch', {
    method: 'POST',
    body: { runs: Array.from({ length: n }, (_, i) => ({ function: fn, args: [`${queue}-${i}`], queue })) },
  });
  for (const run of runs) {
    await waitUntil(() => server.api(`/api/v1/runs/${run.id}`), (r) => ['completed', 'failed'].includes(r.status), { what: `run ${run.id} to finish` });
  }
  return runs;
}

const noSideways = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

test('A per-queue throughput and latency sparkline on the dashboard: each queue\'s finished runs and start latency per minute, live', async () => {
  await finish('ui-spark-a', 'demo.echo', 3);
  await finish('ui-spark-b', 'demo.fail', 1);
  // A run's final status is stored before its run.finished event reaches the figures.
  const stats = await waitUntil(
    () => server.api('/api/v1/stats/queues'),
    (s) => s.queues.some((q) => q.name === 'ui-spark-a' && q.runs === 3) && s.queues.some((q) => q.name === 'ui-spark-b' && q.runs === 1),
    { what: 'the queues\' figures' },
  );
  const a = stats.queues.find((q) => q.name === 'ui-spark-a');
  const b = stats.queues.find((q) => q.name === 'ui-spark-b');
  assert.equal(a.runs, 3);
  assert.equal(a.failed, 0);
  assert.equal(b.runs, 1);
  assert.equal(b.failed, 1);
  assert.equal(a.points.length, 60);
  assert.ok(a.latency_p50 !== null && a.points.at(-1).latency !== null, JSON.stringify(a.points.at(-1)));

  for (const [i, width] of WIDTHS.entries()) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/`);
    const sparks = page.locator('[data-queue-sparks="ui-spark-a"]');
    // The queues hold nothing now: they are listed for their last hour all the same.
    await sparks.locator('[data-figure="runs"]').filter({ hasText: `${3 + i}/h` }).waitFor();
    for (const kind of ['finished', 'latency']) {
      const line = sparks.locator(`svg[data-spark="${kind}"]`);
      assert.ok(Number(await line.getAttribute('data-points')) >= 1, `${kind}: a point drawn`);
      assert.match(await line.locator('path').getAttribute('d'), /^M[\d.]+ [\d.]+/);
      assert.match(await line.getAttribute('aria-label'), /Queue ui-spark-a/);
    }
    assert.match(await page.locator('[data-queue-sparks="ui-spark-b"] svg[data-spark="finished"]').getAttribute('aria-label'), /1 runs finished in the last hour \(1 failed\)/);
    // A run finished while the page is open moves the figure without a reload.
    await finish('ui-spark-a', 'demo.echo', 1);
    await sparks.locator('[data-figure="runs"]').filter({ hasText: `${4 + i}/h` }).waitFor();
    await screenshot(page, `dashboard-sparklines-${width}`);
    assert.ok(await noSideways(page), `no sideways scrolling at ${width} px`);
    await page.close();
  }
});

test('"Run now" on the runs list: a scheduled run and a run waiting for its retry are made due from their rows', async () => {
  for (const width of WIDTHS) {
    const queue = `ui-rownow-${width}`;
    const scheduled = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', queue, args: ['later'], run_at: later(3600) } });
    const retrying = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.fail', queue, retry: { max_attempts: 3, delay: 600 } } });
    await waitUntil(() => server.api(`/api/v1/runs/${retrying.id}`), (r) => r.status === 'pending' && r.attempt === 1, { what: 'the first attempt to fail' });
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/runs?queue=${queue}`);
    await page.getByRole('button', { name: `Run ${scheduled.id} now` }).click();
    await page.getByText(/made due now/).first().waitFor();
    const done = await waitUntil(() => server.api(`/api/v1/runs/${scheduled.id}`), (r) => r.status === 'completed', { what: 'the scheduled run to complete' });
    assert.equal(done.attempt, 1);
    await page.getByRole('button', { name: `Run ${scheduled.id} now` }).waitFor({ state: 'detached' });

    await page.getByRole('button', { name: `Run ${retrying.id} now` }).click();
    await waitUntil(() => server.api(`/api/v1/runs/${retrying.id}`), (r) => r.attempt === 2 && r.status === 'pending', { what: 'the second attempt to fail' });
    // Waiting again for its next retry, ten minutes off: the row offers it again.
    await page.locator(`tr[data-run-id="${retrying.id}"] [data-wait="retrying"]`).filter({ hasText: /^retry 3 of 3 in/ }).waitFor();
    await page.getByRole('button', { name: `Run ${retrying.id} now` }).waitFor();
    assert.ok(await noSideways(page), `no sideways scrolling at ${width} px`);
    await screenshot(page, `runs-run-now-${width}`);
    await page.close();
  }
});

test('keyboard at both widths: "/" searches, j and k mark a run, Enter opens it, r retries it', async () => {
  for (const width of WIDTHS) {
    const queue = `ui-keyboard-${width}`;
    const runs = await finish(queue, 'demo.echo', 3);
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/runs?queue=${queue}`);
    await page.locator('tr[data-run-id]').nth(2).waitFor();
    await page.locator('h1').click();
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'run-search', '"/" focuses the search box');
    await page.keyboard.press('Escape');
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    // Newest first: runs[2], runs[1], runs[0].
    for (const key of ['j', 'j', 'j', 'k']) await page.keyboard.press(key);
    const marked = page.locator('tr[aria-current="true"]');
    assert.equal(await marked.getAttribute('data-run-id'), runs[1].id, 'the middle run is marked');
    assert.ok(await marked.isVisible(), 'the marked run is on screen');
    await page.keyboard.press('r');
    await waitUntil(() => server.api(`/api/v1/runs/${runs[1].id}`), (r) => r.max_attempts === 2 && r.status === 'completed', { what: 'the retry to complete' });
    await page.getByText('Retried 1 run.').waitFor();
    await screenshot(page, `runs-keyboard-${width}`);
    await page.keyboard.press('k');
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/runs/${runs[2].id}`));
    await page.close();
  }
});

test('no console errors', () => {
  assert.deepEqual(browser.errors, []);
});
