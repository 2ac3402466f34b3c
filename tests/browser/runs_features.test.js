// The runs page's state tabs with their counts, search, and acting on every run that
// matches, at 1440 and 390 px; and an account token seeing only its own account in
// each of them. A real `taskmill serve` (SQLite in a temp dir) and headless Chromium.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { TIMEOUT, launchBrowser, screenshot, startServer, waitUntil } from './harness.js';

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

// Runs of every derived state: due (in a paused queue), scheduled, retrying, completed.
async function seed(api, queue, headers = {}) {
  await api(`/api/v1/queues/${queue}-held/pause`, { method: 'POST', headers }).catch(() => {});
  const due = await api('/api/v1/runs', { method: 'POST', headers, body: { function: 'demo.echo', queue: `${queue}-held`, args: ['due'] } });
  const scheduled = await api('/api/v1/runs', { method: 'POST', headers, body: { function: 'demo.echo', queue, args: ['scheduled'], run_at: later(3600) } });
  const retrying = await api('/api/v1/runs', { method: 'POST', headers, body: { function: 'demo.fail', queue, retry: { max_attempts: 3, delay: 600 } } });
  const done = await api('/api/v1/runs', { method: 'POST', headers, body: { function: 'demo.echo', queue, args: [`findable-${queue}`] } });
  await waitUntil(() => api(`/api/v1/runs/${retrying.id}`, { headers }), (r) => r.status === 'pending' && r.attempt === 1, { what: 'the first attempt to fail' });
  await waitUntil(() => api(`/api/v1/runs/${done.id}`, { headers }), (r) => r.status === 'completed', { what: 'the echo to complete' });
  return { due, scheduled, retrying, done };
}

async function tabCounts(page) {
  return page.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll('.state-tab')].map((t) => [t.dataset.state, t.querySelector('.state-count').textContent.trim()])),
  );
}

test('state tabs: each state with its count, and a tab lists its runs only', async () => {
  const seeded = await seed(server.api, 'ui-tabs');
  const { states } = await server.api('/api/v1/stats/states');
  assert.ok(states.pending_due >= 1 && states.scheduled >= 1 && states.retrying >= 1, JSON.stringify(states));
  // The API lists the derived states too.
  const scheduled = await server.api('/api/v1/runs?state=scheduled&queue=ui-tabs');
  assert.deepEqual(scheduled.runs.map((r) => r.id), [seeded.scheduled.id]);
  const retrying = await server.api('/api/v1/runs?state=retrying&queue=ui-tabs');
  assert.deepEqual(retrying.runs.map((r) => r.id), [seeded.retrying.id]);
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/runs`);
    await page.locator('.state-tab[data-state="scheduled"] .state-count').filter({ hasText: /\d/ }).waitFor();
    const now = (await server.api('/api/v1/stats/states')).states;
    const shown = await tabCounts(page);
    for (const state of ['pending_due', 'scheduled', 'retrying', 'running', 'completed', 'failed', 'stopped', 'did_not_start']) {
      assert.equal(shown[state], now[state].toLocaleString('en-US'), `${state} at ${width} px`);
    }
    await page.locator('.state-tab[data-state="retrying"]').click();
    await page.locator(`tr[data-run-id="${seeded.retrying.id}"]`).waitFor();
    await waitUntil(() => page.locator('tr[data-run-id]').count(), (n) => n === now.retrying, { what: 'the retrying runs only' });
    assert.match(page.url(), /state=retrying/);
    await page.locator('.state-tab[data-state="scheduled"]').click();
    await page.locator(`tr[data-run-id="${seeded.scheduled.id}"]`).waitFor();
    assert.equal(await page.locator(`tr[data-run-id="${seeded.retrying.id}"]`).count(), 0);
    await screenshot(page, `runs-tabs-${width}`);
    await page.close();
  }
});

test('search: "/" focuses the box; a run is found by its id and by text of its args', async () => {
  const { done } = await seed(server.api, 'ui-search');
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/runs`);
    await page.locator('tr[data-run-id]').first().waitFor();
    await page.keyboard.press('/');
    await waitUntil(() => page.evaluate(() => document.activeElement && document.activeElement.id), (id) => id === 'run-search', { what: 'the search box to have the focus' });
    await page.keyboard.type('FINDABLE-ui-search');
    await page.keyboard.press('Enter');
    await page.locator('[data-search="text"]').waitFor();
    await waitUntil(() => page.locator('tr[data-run-id]').count(), (n) => n === 1, { what: 'one run found by text' });
    assert.equal(await page.locator(`tr[data-run-id="${done.id}"]`).count(), 1);
    await page.locator('#run-search').fill(done.id);
    await page.locator('#run-search').press('Enter');
    await page.locator('[data-search="id"]').waitFor();
    assert.equal(await page.locator(`tr[data-run-id="${done.id}"]`).count(), 1);
    await page.locator('#run-search').fill('no-run-has-this-text-anywhere');
    await page.locator('#run-search').press('Enter');
    await page.getByText('No run matches these filters.').waitFor();
    await screenshot(page, `runs-search-${width}`);
    await page.close();
  }
});

test('Search for words with a space found nothing (the UI sent the space as "+"): a run found by the text of its data and of its error, with a filter', async () => {
  const queue = 'ui-search-more';
  const withData = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', queue, args: [1], data: { ticket: 'zz-data-findable-42' } } });
  const failed = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.fail', queue, retry: { max_attempts: 1 } } });
  await waitUntil(() => server.api(`/api/v1/runs/${failed.id}`), (r) => r.status === 'failed', { what: 'the run to fail' });
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/runs?queue=${queue}`);
    await page.locator('tr[data-run-id]').nth(1).waitFor();
    await page.locator('#run-search').fill('ZZ-DATA-findable');
    await page.locator('#run-search').press('Enter');
    await page.locator('[data-search="text"]').waitFor();
    await waitUntil(() => page.locator('tr[data-run-id]').evaluateAll((rows) => rows.map((r) => r.dataset.runId)), (ids) => ids.length === 1 && ids[0] === withData.id, { what: 'the run found by its data' });
    await page.locator('#run-search').fill('always FAILS (attempt 1)');
    await page.locator('#run-search').press('Enter');
    await waitUntil(() => page.locator('tr[data-run-id]').evaluateAll((rows) => rows.map((r) => r.dataset.runId)), (ids) => ids.length === 1 && ids[0] === failed.id, { what: 'the run found by its error' });
    assert.equal(new URL(page.url()).searchParams.get('queue'), queue, 'the filter is kept');
    await screenshot(page, `runs-search-error-${width}`);
    await page.close();
  }
});

test('act on all matching: every run of the filter, not only the page, after a confirmation with the count', async () => {
  const queue = 'ui-all-held';
  await server.api(`/api/v1/queues/${queue}/pause`, { method: 'POST' }).catch(() => {});
  const runs = Array.from({ length: 60 }, (_, i) => ({ function: 'demo.echo', queue, args: [i] }));
  await server.api('/api/v1/runs:batch', { method: 'POST', body: { runs } });
  // At 1440 px the pending runs are cancelled; at 390 px the stopped ones are counted.
  for (const [width, state] of [[1440, 'pending_due'], [390, 'stopped']]) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/runs?queue=${queue}&state=${state}`);
    await page.locator('tr[data-run-id]').first().waitFor();
    assert.equal(await page.locator('tr[data-run-id]').count(), 50, 'one page of 50 shown');
    await page.locator('[data-all-matching]').click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('[data-matching="60"]').waitFor();
    assert.match(await dialog.textContent(), /60 runs/);
    await screenshot(page, `runs-all-matching-${width}`);
    if (state === 'pending_due') {
      assert.equal((await dialog.locator('[data-action="cancel"]').textContent()).trim(), 'Cancel 60');
      await dialog.locator('[data-action="cancel"]').click();
      await page.getByText('60 runs cancelled.').waitFor();
      const left = await server.api(`/api/v1/runs?queue=${queue}&state=pending&limit=1000`);
      assert.equal(left.runs.length, 0, 'every matching run cancelled');
      const stopped = await server.api(`/api/v1/runs?queue=${queue}&status=stopped&limit=1000`);
      assert.equal(stopped.runs.length, 60);
    } else {
      assert.equal((await dialog.locator('[data-action="retry"]').textContent()).trim(), 'Retry 60');
      await dialog.getByRole('button', { name: 'Keep them' }).click();
    }
    await page.close();
  }
});

test('an account token sees only its own account: tabs, search and acting on all matching', async () => {
  let admin = '';
  const tokenServer = await startServer({
    setup: async ({ binary, common }) => {
      const made = spawnSync(binary, ['token', 'create', '--admin', ...common], { encoding: 'utf8', timeout: TIMEOUT });
      assert.equal(made.status, 0, made.stderr);
      admin = made.stdout.trim();
    },
  });
  try {
    const asAdmin = { Authorization: `Bearer ${admin}` };
    const account = await tokenServer.api('/api/v1/tokens', { method: 'POST', headers: asAdmin, body: { name: 'acme-tabs', account: 'acme' } });
    const asAcme = { Authorization: `Bearer ${account.token}` };
    const theirs = await seed(tokenServer.api, 'ui-other', asAdmin);
    const mine = await seed(tokenServer.api, 'ui-acme', asAcme);
    const acmeCounts = await tokenServer.api('/api/v1/stats/states', { headers: asAcme });
    const acme = acmeCounts.states;
    assert.equal(acme.scheduled, 1);
    assert.equal(acme.retrying, 1);
    assert.equal((await tokenServer.api(`/api/v1/runs?q=${theirs.done.id}`, { headers: asAcme })).runs.length, 0);
    for (const width of WIDTHS) {
      const page = await browser.newPage({ width, height: 900 });
      await page.goto(`${tokenServer.url}/`);
      // Once the first visit asked for a token: a token kept sooner may be forgotten by
      // that visit's own 401.
      await page.getByText('Sign in to taskmill').waitFor();
      await page.evaluate((token) => sessionStorage.setItem('taskmill.token', token), account.token);
      await page.goto(`${tokenServer.url}/runs`);
      await page.locator('.state-tab[data-state="scheduled"] .state-count').filter({ hasText: /\d/ }).waitFor();
      const shown = await tabCounts(page);
      assert.equal(shown.scheduled, '1');
      assert.equal(shown.retrying, '1');
      assert.equal(shown.all, acmeCounts.total.toLocaleString('en-US'));
      assert.ok(acmeCounts.total < (await tokenServer.api('/api/v1/stats/states', { headers: asAdmin })).total, 'fewer than the server holds');
      // The other account's run is not found by its id, nor by the text of its args.
      await page.locator('#run-search').fill(theirs.done.id);
      await page.locator('#run-search').press('Enter');
      await page.getByText('No run matches these filters.').waitFor();
      await page.locator('#run-search').fill('findable-ui-');
      await page.locator('#run-search').press('Enter');
      await page.locator(`tr[data-run-id="${mine.done.id}"]`).waitFor();
      assert.equal(await page.locator('tr[data-run-id]').count(), 1);
      assert.equal(await page.locator(`tr[data-run-id="${theirs.done.id}"]`).count(), 0);
      await page.locator('[data-all-matching]').click();
      await page.getByRole('dialog').locator('[data-matching="1"]').waitFor();
      await page.getByRole('button', { name: 'Keep them' }).click();
      await screenshot(page, `runs-account-${width}`);
      await page.close();
    }
    browser.errors.splice(0, browser.errors.length, ...browser.errors.filter((e) => !(e.page.startsWith(tokenServer.url) && /status of 401/.test(e.text))));
  } finally {
    await tokenServer.stop();
  }
});

test('"Run now" makes a scheduled run due: a runner takes it at once', async () => {
  const width = 390;
  const run = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', queue: 'ui-now', args: ['now'], run_at: later(3600) } });
  const page = await browser.newPage({ width, height: 900 });
  await page.goto(`${server.url}/runs/${run.id}?queue=ui-now`);
  await page.locator('[data-run-now]').click();
  await page.getByText('Run made due now').waitFor();
  const done = await waitUntil(() => server.api(`/api/v1/runs/${run.id}`), (r) => r.status === 'completed', { what: 'the run to complete' });
  assert.equal(done.attempt, 1);
  await page.locator('[data-run-now]').waitFor({ state: 'detached' });
  await screenshot(page, `run-now-${width}`);
  // Only a pending run can be made due.
  await assert.rejects(server.api(`/api/v1/runs/${run.id}/run-now`, { method: 'POST' }), (e) => e.status === 409);
  await page.close();
});

test('no console errors on the runs page', () => {
  assert.deepEqual(browser.errors, []);
});
