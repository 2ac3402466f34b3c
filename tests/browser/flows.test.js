// The Flows pages at 1440 and 390 px: the definitions with their recent runs, Start
// (bad JSON is refused in place and never sent), a flow run's graph followed live
// without a reload (step states, the children's progress bar), Cancel flow, and a
// failed step's failed_over and Retry; an account token sees its own flow runs only.
// A real `taskmill serve` (SQLite in a temp dir)
// with two flows of the demo functions, and headless Chromium, as ui.test.js.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { TIMEOUT, launchBrowser, screenshot, startServer, waitUntil } from './harness.js';

const WIDTHS = [1440, 390];
// ui-flow: prepare (demo.consume: runs 5 s) → split (demo.split: adds the flow's
// args.children children, each a demo.sleep of 1 s, one at a time) → store.
// ui-fail: first → boom (demo.fail). Each flow has a queue of its own, and split's
// children run in the queue flow:ui-flow:split, so that pausing a queue holds back
// what the test wants to see waiting.
const FLOWS = `flows:
  ui-flow:
    entrance: prepare
    queue: uiflow
    steps:
      prepare: { func_name: demo.consume, next: [split] }
      split: { func_name: demo.split, child_func: demo.sleep, max_concurrency: 1, next: [store] }
      store: { func_name: demo.echo }
  ui-fail:
    entrance: first
    queue: uifail
    steps:
      first: { func_name: demo.echo, next: [boom] }
      boom: { func_name: demo.fail }
  ui-fan:
    entrance: a
    steps:
      a: { func_name: demo.echo, next: [b, c] }
      b: { func_name: demo.echo }
      c: { func_name: demo.echo }
      d: { func_name: demo.echo, after: [b, c] }
`;
const CHILDREN_QUEUE = encodeURIComponent('flow:ui-flow:split');

let server;
let browser;
before(async () => {
  server = await startServer({ config: FLOWS });
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const noSideways = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
// Controls shown without a label (ui.test.js checks the other pages alike).
const unlabelled = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button, [role="link"]')]
      .filter((el) => el.getClientRects().length > 0)
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
      .map((el) => el.outerHTML.slice(0, 80)),
  );
const node = (page, step) => page.locator(`svg g[data-step="${step}"]`);
const nodeState = (page, step, state) => page.locator(`svg g[data-step="${step}"][data-state="${state}"]`);
const pause = (queue) => server.api(`/api/v1/queues/${queue}/pause`, { method: 'POST' });
const resume = (queue) => server.api(`/api/v1/queues/${queue}/resume`, { method: 'POST' });
const recentRuns = async (name) => (await server.api('/api/v1/flows')).flows.find((f) => f.name === name).recent_runs;

// Records, in the page, every state each step's node shows and every text of the
// children's bar, from now on: the page must show them change without a reload.
function recordGraph(page) {
  return page.evaluate(() => {
    window.__sameDocument = true;
    window.__states = {};
    window.__children = [];
    const record = () => {
      for (const g of document.querySelectorAll('svg g[data-step]')) {
        const seen = (window.__states[g.dataset.step] ||= []);
        if (seen[seen.length - 1] !== g.dataset.state) seen.push(g.dataset.state);
      }
      const bar = document.querySelector('svg g[data-step="split"] [data-children]');
      const text = bar && bar.getAttribute('data-children');
      if (text && window.__children[window.__children.length - 1] !== text) window.__children.push(text);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
}

test('Flows page lists the definitions; Start refuses bad JSON in place, then opens the run, followed live to all_over', async () => {
  for (const width of WIDTHS) {
    await pause(CHILDREN_QUEUE); // the children wait until the test lets them go
    const before = (await recentRuns('ui-flow')).length;
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Flows' }).click();
    const row = page.locator('tr[data-flow="ui-flow"]');
    await row.waitFor();
    for (const text of ['entrance prepare', 'queue uiflow', 'prepare', 'split', 'store', 'demo.split', 'children demo.sleep']) {
      assert.ok((await row.textContent()).includes(text), `the ui-flow row shows "${text}"`);
    }
    await page.locator('tr[data-flow="ui-fail"]').waitFor();
    assert.ok(await noSideways(page), `no sideways scrolling on the Flows page at ${width} px`);
    assert.deepEqual(await unlabelled(page), [], 'Flows page: controls without a label');
    await screenshot(page, `flows-${width}`);

    await row.getByRole('button', { name: 'Start flow ui-flow' }).click();
    const dialog = page.getByRole('dialog', { name: 'Start flow ui-flow' });
    const args = dialog.getByLabel('Arguments (JSON, optional)');
    await args.fill('{"children": 3');
    await dialog.locator('.field-error').filter({ hasText: 'Not valid JSON' }).waitFor();
    assert.equal(await dialog.getByRole('button', { name: 'Start flow' }).isDisabled(), true);
    // Even a submit forced past the disabled button sends nothing (checked below: the
    // flow has exactly one new run).
    await dialog.locator('form').evaluate((form) => form.requestSubmit());
    assert.equal(await dialog.isVisible(), true, 'the dialog stays open on bad JSON');

    await args.fill('{"children": 3}');
    await recordGraph(page);
    await dialog.getByRole('button', { name: 'Start flow' }).click();
    await page.waitForURL(/\/flows\/runs\/[^/]+$/);
    const rootId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    const runs = await recentRuns('ui-flow');
    assert.equal(runs.length, before + 1, 'one run started: the bad JSON was never sent');
    assert.equal(runs[0].run_id, rootId);

    // The graph: every step, every edge.
    for (const step of ['prepare', 'split', 'store']) await node(page, step).waitFor();
    for (const edge of ['prepare->split', 'split->store']) {
      // attached: a straight edge has a box of no height, which Playwright calls hidden
      await page.locator(`svg path[data-edge="${edge}"]`).waitFor({ state: 'attached' });
    }
    await nodeState(page, 'prepare', 'running').waitFor();
    await page.locator('[data-flow-status="running"]').waitFor();
    await screenshot(page, `flow-run-running-${width}`);
    assert.ok(await noSideways(page), `no sideways scrolling on the flow page at ${width} px`);

    // prepare ends, split adds its three children, held back by their paused queue.
    await nodeState(page, 'prepare', 'completed').waitFor();
    await nodeState(page, 'split', 'completed').waitFor();
    const bar = page.locator('svg g[data-step="split"] [data-children]');
    await page.locator('svg g[data-step="split"] [data-children="0 done / 0 failed / 3 total"]').waitFor();
    await nodeState(page, 'store', 'waiting').waitFor();
    await screenshot(page, `flow-run-children-held-${width}`);

    await resume(CHILDREN_QUEUE);
    await page.locator('svg g[data-step="split"] [data-children="3 done / 0 failed / 3 total"]').waitFor();
    await page.locator('[data-flow-status="completed"]').waitFor();
    await page.locator('[data-outcome="all_over"]').waitFor();
    await nodeState(page, 'store', 'completed').waitFor();
    assert.deepEqual(JSON.parse(await page.locator('[data-flow-state]').textContent()), { children: 3 });
    assert.equal(await bar.getAttribute('data-children'), '3 done / 0 failed / 3 total');

    const states = await page.evaluate(() => window.__states);
    const children = await page.evaluate(() => window.__children);
    const order = (seen, a, b) => seen.indexOf(a) >= 0 && seen.indexOf(a) < seen.lastIndexOf(b);
    assert.ok(order(states.prepare, 'running', 'completed'), `prepare showed running → completed: ${states.prepare.join(' → ')}`);
    assert.ok(order(states.store, 'waiting', 'completed'), `store showed waiting → completed: ${states.store.join(' → ')}`);
    assert.equal(states.prepare.at(-1), 'completed');
    const done = children.map((t) => Number(t.split(' ')[0]));
    assert.deepEqual([...done].sort((a, b) => a - b), done, `the children's bar only moved forward: ${children.join(', ')}`);
    assert.ok(done.some((n) => n > 0 && n < 3), `the bar advanced child by child: ${children.join(', ')}`);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
    assert.deepEqual(await unlabelled(page), [], 'flow page: controls without a label');
    assert.ok(await noSideways(page), `no sideways scrolling on the ended flow's page at ${width} px`);
    await screenshot(page, `flow-run-all-over-${width}`);

    // The children of split, listed on the runs page.
    await page.locator('tr[data-step-row="split"]').getByRole('link', { name: 'list the children' }).click();
    await page.locator('[data-parent-filter]').waitFor();
    await waitUntil(() => page.locator('tr[data-run-id]').count(), (n) => n === 3, { what: 'the three children listed' });
    for (const k of [0, 1, 2]) await page.locator(`tr[data-run-id="${rootId}:split:${k}"]`).waitFor();
    await page.goBack();

    // A step's node opens its run from the keyboard; the run page leads back to the flow.
    await node(page, 'prepare').focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/runs/${encodeURIComponent(`${rootId}:prepare`)}$`));
    await page.getByRole('link', { name: 'Open flow' }).click();
    await page.waitForURL(new RegExp(`/flows/runs/${rootId}$`));
    await nodeState(page, 'store', 'completed').waitFor();

    // Back on the Flows page, the run is the first of the recent runs, completed.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Flows' }).click();
    const recent = page.locator(`tr[data-flow="ui-flow"] li[data-flow-run="${rootId}"]`);
    await recent.locator('.status').filter({ hasText: /^completed$/ }).waitFor();
    await recent.getByRole('link').click();
    await page.waitForURL(new RegExp(`/flows/runs/${rootId}$`));
    await page.close();
  }
});

test('Cancel flow ends it stopped: its pending step is stopped, the steps after it skipped', async () => {
  for (const width of WIDTHS) {
    await pause('uiflow'); // prepare stays pending: the flow is live while the test looks
    const root = await server.api('/api/v1/flows/ui-flow/runs', { method: 'POST', body: {} });
    const page = await browser.newPage({ width, height: 900 });
    // The dark theme at one width: the graph's colours come from the theme's variables.
    if (width === 390) await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${server.url}/flows/runs/${encodeURIComponent(root.id)}`);
    await nodeState(page, 'prepare', 'pending').waitFor();
    await nodeState(page, 'store', 'waiting').waitFor();
    await page.getByRole('button', { name: 'Cancel flow' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel this flow?' });
    await dialog.getByRole('button', { name: 'Cancel flow' }).click();
    await page.locator('[data-flow-status="stopped"]').waitFor();
    await page.locator('[data-outcome="stopped"]').waitFor();
    await nodeState(page, 'prepare', 'stopped').waitFor();
    await nodeState(page, 'split', 'skipped').waitFor();
    await nodeState(page, 'store', 'skipped').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Cancel flow' }).count(), 0, 'no Cancel once the flow ended');
    assert.equal((await server.api(`/api/v1/runs/${encodeURIComponent(root.id)}`)).status, 'stopped');
    assert.ok(await noSideways(page), `no sideways scrolling at ${width} px`);
    await screenshot(page, `flow-run-stopped-${width}${width === 390 ? '-dark' : ''}`);
    await resume('uiflow');
    await page.close();
  }
});

test('A failed step: failed_over names it, and Retry step sets it going again', async () => {
  for (const width of WIDTHS) {
    const root = await server.api('/api/v1/flows/ui-fail/runs', { method: 'POST', body: { args: { width } } });
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/flows/runs/${encodeURIComponent(root.id)}`);
    await page.locator('[data-outcome="failed_over"]').waitFor();
    assert.equal(await page.locator('[data-outcome-step]').textContent(), 'boom');
    assert.ok((await page.locator('[data-outcome="failed_over"]').textContent()).includes('demo.fail always fails'));
    await nodeState(page, 'first', 'completed').waitFor();
    await nodeState(page, 'boom', 'failed').waitFor();
    const row = page.locator('tr[data-step-row="boom"]');
    assert.ok((await row.textContent()).includes('1 of 1'));
    await screenshot(page, `flow-run-failed-${width}`);

    // Held in its paused queue, the retried step is seen pending with one more attempt.
    await pause('uifail');
    await row.getByRole('button', { name: 'Retry step boom' }).click();
    await nodeState(page, 'boom', 'pending').waitFor();
    await row.filter({ hasText: '1 of 2' }).waitFor();
    assert.equal((await server.api(`/api/v1/runs/${encodeURIComponent(`${root.id}:boom`)}`)).status, 'pending');
    // The retry reopened the flow: its root is running again, and the page says so.
    assert.equal((await server.api(`/api/v1/runs/${encodeURIComponent(root.id)}`)).status, 'running');
    await page.locator('[data-outcome="failed_over"]').waitFor({ state: 'detached' });
    await resume('uifail');
    // It runs again (and demo.fail fails again): attempt 2, shown without a reload.
    await row.filter({ hasText: '2 of 2' }).waitFor();
    await nodeState(page, 'boom', 'failed').waitFor();
    await page.locator('[data-outcome="failed_over"]').waitFor();
    await page.close();
  }
});

test('A fan-out and fan-in is drawn in layers: no step on another, every edge forward', async () => {
  const root = await server.api('/api/v1/flows/ui-fan/runs', { method: 'POST', body: {} });
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/flows/runs/${encodeURIComponent(root.id)}`);
    await page.locator('[data-outcome="all_over"]').waitFor();
    for (const step of ['a', 'b', 'c', 'd']) await nodeState(page, step, 'completed').waitFor();
    const orientation = await page.locator('.flow-graph svg').getAttribute('data-orientation');
    // Left to right when the layers fit the width; top to bottom on a phone.
    assert.equal(orientation, width === 1440 ? 'horizontal' : 'vertical');
    const box = {};
    for (const step of ['a', 'b', 'c', 'd']) box[step] = await node(page, step).locator('.flow-box').boundingBox();
    const along = orientation === 'horizontal' ? 'x' : 'y';
    const across = orientation === 'horizontal' ? 'y' : 'x';
    assert.ok(box.a[along] < box.b[along] && box.b[along] === box.c[along] && box.c[along] < box.d[along], `layers a | b c | d: ${JSON.stringify(box)}`);
    assert.notEqual(box.b[across], box.c[across], 'b and c side by side');
    const overlap = (p, q) => p.x < q.x + q.width && q.x < p.x + p.width && p.y < q.y + q.height && q.y < p.y + p.height;
    for (const [p, q] of [['a', 'b'], ['a', 'c'], ['b', 'c'], ['b', 'd'], ['c', 'd'], ['a', 'd']]) {
      assert.ok(!overlap(box[p], box[q]), `steps ${p} and ${q} overlap`);
    }
    assert.equal(await page.locator('svg path[data-edge]').count(), 4);
    assert.ok(await noSideways(page), `no sideways scrolling at ${width} px (a wide graph scrolls in its panel)`);
    await screenshot(page, `flow-run-fan-${width}`);
    await page.close();
  }
});

test('An account token sees and starts its own flow runs only', async () => {
  let admin = '';
  const secured = await startServer({
    config: FLOWS,
    setup: async ({ binary, common }) => {
      const made = spawnSync(binary, ['token', 'create', '--admin', ...common], { encoding: 'utf8', timeout: TIMEOUT });
      assert.equal(made.status, 0, made.stderr);
      admin = made.stdout.trim();
    },
  });
  try {
    const asAdmin = { Authorization: `Bearer ${admin}` };
    const token = await secured.api('/api/v1/tokens', { method: 'POST', headers: asAdmin, body: { name: 'acme-flows', account: 'acme' } });
    const asAcme = { Authorization: `Bearer ${token.token}` };
    const theirs = await secured.api('/api/v1/flows/ui-fail/runs', { method: 'POST', headers: asAdmin, body: {} });
    const mine = await secured.api('/api/v1/flows/ui-fail/runs', { method: 'POST', headers: asAcme, body: {} });
    for (const root of [theirs, mine]) {
      await waitUntil(() => secured.api(`/api/v1/runs/${root.id}`, { headers: asAdmin }), (r) => r.status === 'failed', { what: `flow ${root.id} to fail` });
    }
    for (const width of WIDTHS) {
      const page = await browser.newPage({ width, height: 900 });
      await page.goto(`${secured.url}/`);
      await page.getByText('Sign in to taskmill').waitFor();
      await page.evaluate((t) => sessionStorage.setItem('taskmill.token', t), token.token);
      await page.goto(`${secured.url}/flows`);
      const recent = page.locator('tr[data-flow="ui-fail"] li[data-flow-run]');
      await recent.first().waitFor();
      const listed = await recent.evaluateAll((items) => items.map((li) => li.dataset.flowRun));
      assert.ok(listed.includes(mine.id), 'the account\'s run is listed');
      assert.ok(!listed.includes(theirs.id), 'another account\'s run is listed');

      await page.goto(`${secured.url}/flows/runs/${encodeURIComponent(mine.id)}`);
      await page.locator('[data-outcome="failed_over"]').waitFor();
      await page.goto(`${secured.url}/flows/runs/${encodeURIComponent(theirs.id)}`);
      await page.getByRole('heading', { name: 'Flow run not found' }).waitFor();
      assert.equal(await page.locator('svg g[data-step]').count(), 0, 'nothing of the other account\'s flow shows');

      // Started from the page, the flow is the account's.
      await page.goto(`${secured.url}/flows`);
      await page.getByRole('button', { name: 'Start flow ui-fail' }).click();
      await page.getByRole('dialog', { name: 'Start flow ui-fail' }).getByRole('button', { name: 'Start flow' }).click();
      await page.waitForURL(/\/flows\/runs\/[^/]+$/);
      const started = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
      await page.locator('[data-outcome="failed_over"]').waitFor();
      assert.equal((await secured.api(`/api/v1/runs/${started}`, { headers: asAdmin })).account_id, 'acme');
      assert.ok(await noSideways(page), `no sideways scrolling at ${width} px`);
      await page.close();
    }
    // The first visit, before the token was kept, was asked for one (401s); the other
    // account's flow answered 404.
    browser.errors.splice(0, browser.errors.length, ...browser.errors.filter((e) => !(e.page.startsWith(secured.url) && /status of (401|404)/.test(e.text))));
  } finally {
    await secured.stop();
  }
});

test('no console errors', () => {
  assert.deepEqual(browser.errors, []);
});
