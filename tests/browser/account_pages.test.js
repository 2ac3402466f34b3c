// An account token sees only its own account everywhere in the UI, at 1440 and 390 px:
// the dashboard (counts, queues and their sparklines), the runs list and its tabs, a run
// page (another account's run does not exist), the Tasks page (no env, no actions the
// token may not take, a periodical task's history without other accounts' launches) and
// the Functions page's figures. A real `taskmill serve` with tokens (SQLite in a temp
// dir) and headless Chromium.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { TIMEOUT, launchBrowser, screenshot, startServer, waitUntil } from './harness.js';

const WIDTHS = [1440, 390];
const SECRET = 's3cret-of-the-operator';
const TASKS = `  ui-acct-tick:
    kind: periodical
    func_name: demo.echo
    args: ["tick"]
    schedule: "* * * * * *"
    timezone: UTC
    enabled: true
  ui-acct-command:
    kind: single_shot
    command: ["sh", "-c", "echo hello"]
    env: { UI_SECRET: ${SECRET} }
`;

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
});

const noSideways = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

test('an account token sees only its own account on every page: dashboard, runs, a run, tasks and their history, functions', async () => {
  let admin = '';
  const server = await startServer({
    tasks: TASKS,
    setup: async ({ binary, common }) => {
      const made = spawnSync(binary, ['token', 'create', '--admin', ...common], { encoding: 'utf8', timeout: TIMEOUT });
      assert.equal(made.status, 0, made.stderr);
      admin = made.stdout.trim();
    },
  });
  try {
    const asAdmin = { Authorization: `Bearer ${admin}` };
    const account = await server.api('/api/v1/tokens', { method: 'POST', headers: asAdmin, body: { name: 'acme-pages', account: 'acme' } });
    const asAcme = { Authorization: `Bearer ${account.token}` };
    // The server's runs (no account) in queue ui-theirs; acme's in ui-mine.
    const { runs: theirs } = await server.api('/api/v1/runs:batch', {
      method: 'POST',
      headers: asAdmin,
      body: { runs: [1, 2, 3].map((i) => ({ function: 'demo.echo', args: [`theirs-${i}`], queue: 'ui-theirs' })) },
    });
    const mine = await server.api('/api/v1/runs', { method: 'POST', headers: asAcme, body: { function: 'demo.echo', args: ['mine'], queue: 'ui-mine' } });
    for (const run of [...theirs, mine]) {
      await waitUntil(() => server.api(`/api/v1/runs/${run.id}`, { headers: asAdmin }), (r) => r.status === 'completed', { what: `run ${run.id}` });
    }
    // The periodical task launched for the server, never for acme.
    await waitUntil(() => server.api('/api/v1/runs?task=ui-acct-tick', { headers: asAdmin }), (p) => p.runs.length > 0, { what: 'a launch of ui-acct-tick' });
    await server.api('/api/v1/tasks/ui-acct-tick/disable', { method: 'POST', headers: asAdmin });
    const acmeStats = await server.api('/api/v1/stats', { headers: asAcme });
    assert.equal(acmeStats.statuses.total, 1);
    const acmeQueues = await waitUntil(() => server.api('/api/v1/stats/queues', { headers: asAcme }), (s) => s.queues.length > 0, { what: 'acme\'s queue figures' });
    assert.deepEqual(acmeQueues.queues.map((q) => q.name), ['ui-mine']);
    assert.ok(!JSON.stringify(await server.api('/api/v1/tasks', { headers: asAcme })).includes(SECRET), 'env sent to an account token');

    for (const width of WIDTHS) {
      const page = await browser.newPage({ width, height: 900 });
      await page.goto(`${server.url}/`);
      await page.getByText('Sign in to taskmill').waitFor();
      await page.evaluate((token) => sessionStorage.setItem('taskmill.token', token), account.token);

      // Dashboard: the account's counts, and only its queue with its sparklines.
      await page.goto(`${server.url}/`);
      await page.getByRole('heading', { name: 'Runs of account acme' }).waitFor();
      await page.locator('[data-queue-sparks="ui-mine"] [data-figure="runs"]').filter({ hasText: '1/h' }).waitFor();
      const total = Number((await page.locator('a[data-status="total"] .count-value').textContent()).replace(/,/g, ''));
      assert.equal(total, 1, 'the counts are the account\'s');
      assert.equal(await page.locator('[data-queue="ui-theirs"], [data-queue-sparks="ui-theirs"]').count(), 0, 'another account\'s queue');
      assert.equal(await page.getByRole('region', { name: 'Runners' }).count(), 0, 'no runners panel');
      assert.ok(await noSideways(page), `dashboard: no sideways scrolling at ${width} px`);
      await screenshot(page, `account-dashboard-${width}`);

      // Runs: its one run, in every tab.
      await page.goto(`${server.url}/runs`);
      await page.locator(`tr[data-run-id="${mine.id}"]`).waitFor();
      assert.equal(await page.locator('tr[data-run-id]').count(), 1, 'only the account\'s run is listed');
      await page.locator('.state-tab[data-state="completed"] .state-count').filter({ hasText: /^1$/ }).waitFor();
      await screenshot(page, `account-runs-${width}`);

      // A run page: its own run shows; the server's run does not exist for it.
      await page.goto(`${server.url}/runs/${mine.id}?queue=ui-mine`);
      await page.locator('.run-head').waitFor();
      await page.goto(`${server.url}/runs/${theirs[0].id}?queue=ui-theirs`);
      await page.getByRole('heading', { name: 'Run not found' }).waitFor();
      assert.ok(!(await page.locator('main').textContent()).includes('theirs-1'), 'nothing of the other run shows');
      await screenshot(page, `account-run-not-found-${width}`);

      // Tasks: no env anywhere, no enable / disable, no start of a command task; the
      // periodical task's history holds no launch of another account.
      await page.goto(`${server.url}/tasks`);
      await page.locator('tr[data-task="ui-acct-command"]').waitFor();
      assert.ok(!(await page.content()).includes(SECRET), 'the env shows on the Tasks page');
      assert.equal(await page.getByRole('button', { name: /^(Disable|Enable) task/ }).count(), 0, 'enable/disable offered');
      assert.equal(await page.getByRole('button', { name: 'Start task ui-acct-command now' }).count(), 0, 'a command task offered to start');
      assert.equal(await page.locator('tr[data-task="ui-acct-tick"] td[data-label="Last run"] a').count(), 0, 'another account\'s last run');
      await page.getByRole('button', { name: 'Launch history of ui-acct-tick' }).click();
      await page.getByRole('dialog').getByText('No launches yet').waitFor();
      assert.ok(await noSideways(page), `tasks: no sideways scrolling at ${width} px`);
      await screenshot(page, `account-task-history-${width}`);
      await page.keyboard.press('Escape');

      // Functions: the account's figures.
      await page.goto(`${server.url}/functions`);
      const echoRuns = page.locator('[data-function="demo.echo"] [data-figure="runs"]');
      await echoRuns.waitFor();
      assert.equal((await echoRuns.textContent()).trim(), '1', 'demo.echo runs of the account');
      await screenshot(page, `account-functions-${width}`);
      await page.close();
    }
    // The first visit, before the token was kept, was asked for one: 401s in the console;
    // the other account's run page answered 404.
    browser.errors.splice(0, browser.errors.length, ...browser.errors.filter((e) => !(e.page.startsWith(server.url) && /status of (401|404)/.test(e.text))));
  } finally {
    await server.stop();
  }
});

test('no console errors', () => {
  assert.deepEqual(browser.errors, []);
});
