// Per-function metrics on the Functions page, the launch history of a periodical task
// on the Tasks page, and a run's attempt timeline, at 1440 and 390 px; an account token
// sees its own account's figures only. A real `taskmill serve` (SQLite in a temp dir)
// and headless Chromium.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { TIMEOUT, launchBrowser, screenshot, startServer, waitUntil } from './harness.js';

const WIDTHS = [1440, 390];
let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
});

// `completed` runs of demo.echo and `failed` runs of demo.fail (no retry), finished.
async function finishRuns(api, { completed, failed, headers = {} }) {
  const made = [];
  for (let i = 0; i < completed; i++) made.push(await api('/api/v1/runs', { method: 'POST', headers, body: { function: 'demo.echo', args: [i] } }));
  for (let i = 0; i < failed; i++) made.push(await api('/api/v1/runs', { method: 'POST', headers, body: { function: 'demo.fail', retry: { max_attempts: 1 } } }));
  for (const run of made) {
    await waitUntil(() => api(`/api/v1/runs/${run.id}`, { headers }), (r) => r.status === 'completed' || r.status === 'failed', { what: `run ${run.id} to finish` });
  }
  return made;
}

async function figures(page, fn) {
  return page.evaluate((name) => {
    const card = document.querySelector(`[data-function="${name}"]`);
    return Object.fromEntries([...card.querySelectorAll('[data-figure]')].map((d) => [d.dataset.figure, d.textContent.trim()]));
  }, fn);
}

test('per-function metrics: runs, failures, p50/p95 duration and latency, completed apart from failed', async () => {
  let admin = '';
  const server = await startServer({
    setup: async ({ binary, common }) => {
      const made = spawnSync(binary, ['token', 'create', '--admin', ...common], { encoding: 'utf8', timeout: TIMEOUT });
      assert.equal(made.status, 0, made.stderr);
      admin = made.stdout.trim();
    },
  });
  try {
    const asAdmin = { Authorization: `Bearer ${admin}` };
    const account = await server.api('/api/v1/tokens', { method: 'POST', headers: asAdmin, body: { name: 'acme-metrics', account: 'acme' } });
    const asAcme = { Authorization: `Bearer ${account.token}` };
    await finishRuns(server.api, { completed: 3, failed: 2, headers: asAdmin });
    await finishRuns(server.api, { completed: 1, failed: 1, headers: asAcme });

    // A run's final status is stored before its run.finished event reaches the
    // figures: wait for the event, not only the status.
    const all = await waitUntil(() => server.api('/api/v1/functions/demo.echo/stats', { headers: asAdmin }), (s) => s.runs >= 4, { what: 'demo.echo\'s figures' });
    assert.equal(all.runs, 4);
    assert.equal(all.failed, 0);
    assert.equal(all.points.length, 60);
    assert.ok(all.duration_p50 !== null && all.duration_p95 >= all.duration_p50, JSON.stringify(all));
    assert.ok(all.latency_p50 !== null && all.latency_p95 >= all.latency_p50, JSON.stringify(all));
    const fails = await waitUntil(() => server.api('/api/v1/functions/demo.fail/stats', { headers: asAdmin }), (s) => s.runs >= 3, { what: 'demo.fail\'s figures' });
    assert.equal(fails.runs, 3);
    assert.equal(fails.failed, 3);
    assert.equal(fails.points.reduce((n, p) => n + p.failed, 0), 3);
    // An account token counts its own account's runs only.
    const mine = await server.api('/api/v1/functions/demo.fail/stats', { headers: asAcme });
    assert.equal(mine.runs, 1);
    // An unknown function is a 404 that says so.
    await assert.rejects(server.api('/api/v1/functions/no.such/stats', { headers: asAdmin }), /404|no function named/);

    for (const [who, token, expected] of [['admin', admin, { echo: '4', fail: '3' }], ['account', account.token, { echo: '1', fail: '1' }]]) {
      for (const width of WIDTHS) {
        const page = await browser.newPage({ width, height: 900 });
        await page.goto(`${server.url}/`);
        await page.getByText('Sign in to taskmill').waitFor();
        await page.evaluate((t) => sessionStorage.setItem('taskmill.token', t), token);
        await page.goto(`${server.url}/functions`);
        // Each card asks for its own figures: wait for both.
        await page.locator('[data-function="demo.fail"] [data-figure="runs"]').waitFor();
        await page.locator('[data-function="demo.echo"] [data-figure="runs"]').waitFor();
        const echo = await figures(page, 'demo.echo');
        const fail = await figures(page, 'demo.fail');
        assert.equal(echo.runs, expected.echo, `${who} at ${width} px`);
        assert.equal(echo.failed, '0');
        assert.equal(fail.runs, expected.fail);
        assert.equal(fail.failed, expected.fail);
        assert.match(echo.duration, /\d+ (ms|s) \/ \d+ (ms|s)/);
        assert.match(echo.latency, /\d+ (ms|s) \/ \d+ (ms|s)/);
        // The chart, drawn when opened: one series of completed runs, one of failed.
        const card = page.locator('[data-function="demo.fail"]');
        await card.locator('.fn-chart summary').click();
        await card.locator('.fn-chart .chart canvas').waitFor();
        const series = await card.locator('.fn-chart .chart').evaluate((el) => el._uplot.series.slice(1).map((s) => s.label));
        assert.deepEqual(series, ['completed', 'failed']);
        const failedPlotted = await card.locator('.fn-chart .chart').evaluate((el) => el._uplot.data[2].reduce((n, v) => n + (v || 0), 0));
        assert.equal(String(failedPlotted), expected.fail);
        const sideways = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
        assert.equal(sideways, false, `no sideways scrolling at ${width} px`);
        await card.scrollIntoViewIfNeeded();
        await screenshot(page, `function-metrics-${who}-${width}`);
        await page.close();
      }
    }
  } finally {
    await server.stop();
  }
});

test('the history of a periodical task: its launches with each instant, the run and the status, did_not_start included', async () => {
  // Every second, each run sleeping 2 s, overlaps skipped: launches that did not start.
  const server = await startServer({
    tasks: `  ui-every-second:
    kind: periodical
    func_name: demo.sleep
    args: [2]
    schedule: "* * * * * *"
    timezone: Europe/Berlin
    overlap: skip
`,
  });
  try {
    const launches = await waitUntil(
      () => server.api('/api/v1/runs?task=ui-every-second&limit=25'),
      (page) => page.runs.some((r) => r.status === 'did_not_start') && page.runs.some((r) => r.status === 'completed'),
      { what: 'a completed launch and one that did not start', timeout: 60_000 },
    );
    // Stop launching, so that the history holds still while it is compared.
    await server.api('/api/v1/tasks/ui-every-second/disable', { method: 'POST' });
    for (const width of WIDTHS) {
      const page = await browser.newPage({ width, height: 900 });
      await page.goto(`${server.url}/tasks`);
      await page.getByRole('button', { name: 'Launch history of ui-every-second' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.locator('tr[data-history-run]').first().waitFor();
      const { runs } = await server.api('/api/v1/runs?task=ui-every-second&limit=25');
      const rows = await dialog.locator('tr[data-history-run]').evaluateAll((trs) =>
        trs.map((tr) => ({ id: tr.dataset.historyRun, status: tr.dataset.status, instant: tr.querySelector('time')?.getAttribute('datetime') || null, text: tr.textContent })),
      );
      assert.deepEqual(rows.map((r) => r.id), runs.map((r) => r.id), `newest first at ${width} px`);
      for (const [i, run] of runs.entries()) {
        assert.equal(rows[i].status, run.status);
        assert.equal(rows[i].instant, run.scheduled_at);
        // Shown in the task's zone, named.
        assert.match(rows[i].text, /Europe\/Berlin/);
      }
      const skipped = rows.find((r) => r.status === 'did_not_start');
      assert.ok(skipped, 'a launch that did not start is listed');
      assert.match(skipped.text, /never started/);
      assert.ok(launches.runs.length > 0);
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.equal(sideways, false, `no sideways scrolling at ${width} px`);
      await screenshot(page, `task-history-${width}`);
      // The run of a launch opens from its row.
      await dialog.locator(`tr[data-history-run="${skipped.id}"] a`).click();
      await page.waitForURL(new RegExp(`/runs/${skipped.id}`));
      await page.close();
    }
  } finally {
    await server.stop();
  }
});

test('a run\'s timeline: waits, each attempt and the waits for retries, drawn to scale', async () => {
  const server = await startServer();
  try {
    // Three failing attempts, a second apart; a run scheduled 2 s ahead.
    const retried = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.fail', retry: { max_attempts: 3, delay: 1 } } });
    const later = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', args: ['later'], run_at: new Date(Date.now() + 2000).toISOString() } });
    await waitUntil(() => server.api(`/api/v1/runs/${retried.id}`), (r) => r.status === 'failed', { what: 'the third attempt to fail' });
    await waitUntil(() => server.api(`/api/v1/runs/${later.id}`), (r) => r.status === 'completed', { what: 'the scheduled run to complete' });
    for (const width of WIDTHS) {
      const page = await browser.newPage({ width, height: 900 });
      await page.goto(`${server.url}/runs/${retried.id}`);
      const timeline = page.getByTestId('run-timeline');
      await timeline.waitFor();
      const kinds = await timeline.locator('.timeline-bar .seg').evaluateAll((els) => els.map((e) => e.dataset.kind));
      assert.deepEqual(kinds.filter((k) => k === 'failed').length, 3, kinds.join());
      assert.deepEqual(kinds.filter((k) => k === 'retry').length, 2, kinds.join());
      // Drawn to scale: a wait for a retry (about 1 s) is wider than an attempt (a few ms).
      const widths = await timeline.locator('.timeline-bar .seg').evaluateAll((els) => els.map((e) => ({ kind: e.dataset.kind, width: e.getBoundingClientRect().width })));
      const retryWidth = widths.find((w) => w.kind === 'retry').width;
      const attemptWidth = widths.find((w) => w.kind === 'failed').width;
      assert.ok(retryWidth > attemptWidth, JSON.stringify(widths));
      await timeline.scrollIntoViewIfNeeded();
      await screenshot(page, `run-timeline-retries-${width}`);

      await page.goto(`${server.url}/runs/${later.id}`);
      await page.getByTestId('run-timeline').waitFor();
      const legend = await page.getByTestId('run-timeline').locator('.timeline-legend li').evaluateAll((els) => els.map((e) => [e.dataset.kind, e.textContent]));
      const scheduled = legend.find(([k]) => k === 'scheduled');
      assert.ok(scheduled, `a scheduled run shows its wait until due: ${JSON.stringify(legend)}`);
      assert.match(scheduled[1], /waiting until due: (1\.\d|2\.\d) s/);
      assert.ok(legend.some(([k]) => k === 'ok'));
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.equal(sideways, false, `no sideways scrolling at ${width} px`);
      await screenshot(page, `run-timeline-scheduled-${width}`);
      await page.close();
    }
  } finally {
    await server.stop();
  }
});
