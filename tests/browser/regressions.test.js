// Regression tests of the web UI, one per problem found when it was tried at 1440 and
// 390 px wide with many runs; each test is named after the problem it guards against.
// A real `taskmill serve` (SQLite in a temp dir) and headless Chromium, as ui.test.js.
// Where a test needs numbers out of reach of a test's time (200,000 runs, 25,000
// finished per second), the browser is handed the server's own answer with those
// numbers put in (page.route), and everything else stays real.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { TIMEOUT, launchBrowser, screenshot, startServer, waitUntil } from './harness.js';

const WIDTHS = [1440, 390];
const TASKS = `  ui-berlin:
    kind: periodical
    func_name: demo.echo
    schedule: "0 30 2 * * *"
    timezone: Europe/Berlin
    enabled: true
  ui-command:
    kind: single_shot
    command: ["sh", "-c", "echo an-argument-long-enough-to-need-a-line-of-its-own-at-phone-width"]
    env: { UI_SECRET: s3cret-of-the-operator }
`;

let server;
let browser;
before(async () => {
  server = await startServer({ tasks: TASKS });
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function settled(page) {
  await page.locator('.loading').first().waitFor({ state: 'detached' });
}

test('Count cards overflow: a 6-digit count stays inside its card', async () => {
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.route('**/api/v1/stats', async (route) => {
      const answer = await (await route.fetch()).json();
      for (const key of Object.keys(answer.statuses)) answer.statuses[key] = 200000 + key.length;
      answer.statuses.total = 2000000;
      await route.fulfill({ json: answer });
    });
    await page.goto(`${server.url}/`);
    await page.locator('.count-value').first().filter({ hasText: '200,0' }).waitFor();
    const overflowing = await page.evaluate(() =>
      [...document.querySelectorAll('.count')]
        .map((card) => {
          const value = card.querySelector('.count-value');
          const box = card.getBoundingClientRect();
          const text = value.getBoundingClientRect();
          return { text: value.textContent, clipped: value.scrollWidth > value.clientWidth, outside: text.right > box.right - 1 };
        })
        .filter((c) => c.clipped || c.outside),
    );
    assert.deepEqual(overflowing, [], `at ${width} px`);
    await screenshot(page, `regression-count-cards-${width}`);
    await page.close();
  }
});

test("The chart's y-axis clips its labels: 5-digit rates fit, with thousands separators", async () => {
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.route('**/api/v1/stats/throughput*', async (route) => {
      const answer = await (await route.fetch()).json();
      // Up to 250,000 finished per 10 s step: 25,000 per second. The step in progress is
      // divided by the seconds it has lasted (as little as 1 s), so it holds few.
      answer.since = answer.points[0].at;
      const last = answer.points.length - 1;
      answer.points = answer.points.map((p, i) => ({
        ...p,
        finished: i === last ? 1000 : 150000 + (i % 11) * 10000,
        failed: i === last ? 10 : 1000,
      }));
      await route.fulfill({ json: answer });
    });
    await page.goto(`${server.url}/`);
    await page.locator('[data-finished-total]').waitFor();
    const axis = await waitUntil(
      () =>
        page.evaluate(() => {
          const u = document.querySelector('.chart')._uplot;
          const y = u.axes[1];
          const labels = (y._values || []).map(String);
          const ctx = document.createElement('canvas').getContext('2d');
          ctx.font = y.font ? y.font[0] : '12px system-ui';
          const widest = Math.max(...labels.map((l) => ctx.measureText(l).width));
          return { labels, widest, size: y._size };
        }),
      (a) => a.labels.length > 1 && a.labels.some((l) => l.length >= 5),
      { what: 'the y axis labels' },
    );
    assert.ok(axis.labels.some((l) => /^\d{2},\d{3}$/.test(l)), `labels with a thousands separator: ${axis.labels}`);
    assert.ok(axis.size >= axis.widest + 8, `axis ${axis.size} px wide for labels ${Math.round(axis.widest)} px wide: ${axis.labels}`);
    await screenshot(page, `regression-chart-axis-${width}`);
    await page.close();
  }
});

test('A run waiting for its retry shows a duration that keeps growing: it says when the retry is, with the failed attempt\'s real duration', async () => {
  const run = await server.api('/api/v1/runs', {
    method: 'POST',
    body: { function: 'demo.fail', retry: { max_attempts: 5, delay: 600 } },
  });
  const waiting = await waitUntil(
    () => server.api(`/api/v1/runs/${run.id}`),
    (r) => r.status === 'pending' && r.attempt === 1 && r.attempts.length === 1 && r.attempts[0].finished_at,
    { what: 'the first attempt to fail' },
  );
  const attempt = waiting.attempts[0];
  const lasted = (Date.parse(attempt.finished_at) - Date.parse(attempt.started_at)) / 1000;
  assert.ok(lasted < 1, `demo.fail fails at once (took ${lasted} s)`);
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/runs`);
    const cell = page.locator(`tr[data-run-id="${run.id}"] .duration`);
    await cell.waitFor();
    // The words, without the row's "Run now" button.
    const text = (await cell.evaluate((el) => {
      const words = el.cloneNode(true);
      for (const button of words.querySelectorAll('button')) button.remove();
      return words.textContent;
    })).replace(/\s+/g, ' ').trim();
    assert.match(text, /^retry 2 of 5 in (9|10) min( \d+ s)? \(took \d+ ms\)$/, `runs list: ${text}`);
    await page.goto(`${server.url}/runs/${run.id}`);
    await page.locator('[data-retry]').waitFor();
    const facts = await page.locator('.facts').first().textContent();
    assert.match(facts, /Duration\s*\d+ ms \(attempt 1\)/, `run page: ${facts}`);
    assert.doesNotMatch(facts, /so far/);
    assert.match(await page.locator('[data-retry]').textContent(), /^retry 2 of 5 in (9|10) min/);
    await screenshot(page, `regression-retry-wait-${width}`);
    await page.close();
  }
});

test('The Tasks page: the command wraps between words, fire times are all relative, in the task\'s zone with its name', async () => {
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/tasks`);
    const command = page.locator('tr[data-task="ui-command"] .command');
    await command.waitFor();
    const split = await command.evaluate((el) =>
      [...el.querySelectorAll('.arg')].filter((arg) => arg.getClientRects().length !== 1 || arg.getBoundingClientRect().height > 30).map((a) => a.textContent),
    );
    assert.deepEqual(split, [], `arguments broken across lines at ${width} px`);
    const fires = page.locator('tr[data-task="ui-berlin"] .fires li');
    await fires.nth(2).waitFor();
    const texts = (await fires.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    assert.equal(texts.length, 3);
    for (const text of texts) {
      assert.match(text, /^\d{4}-\d\d-\d\d 02:30 Europe\/Berlin \((in \d+ (s|min|h|d)|just now)\)$/, `fire time: ${text}`);
    }
    await screenshot(page, `regression-tasks-${width}`);
    await page.close();
  }
});

test('Queue ages: a queue holding only delayed runs says when the next is due, not "0 ms"', async () => {
  await server.api('/api/v1/runs:batch', {
    method: 'POST',
    body: { runs: [1, 2, 3].map((i) => ({ function: 'demo.echo', args: [i], queue: 'ui-later', delay: 3600 })) },
  });
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/`);
    const cell = page.locator('tr[data-queue="ui-later"] .oldest');
    await cell.waitFor();
    const text = (await cell.textContent()).trim();
    assert.match(text, /^none due; next in (59 min|60 min|1 h)$/, `oldest at ${width} px: ${text}`);
    await page.close();
  }
});

test('Phone width: the filters do not fill the first screen; a run shows before scrolling', async () => {
  await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', args: ['phone'] } });
  const page = await browser.newPage({ width: 390, height: 844 });
  await page.goto(`${server.url}/runs`);
  const first = page.locator('tr[data-run-id]').first();
  await first.waitFor();
  const top = await first.evaluate((el) => el.getBoundingClientRect().top);
  assert.ok(top < 844 - 60, `the first run starts at ${top} px, below the first screen`);
  assert.equal(await page.locator('.filter-box').evaluate((el) => el.open), false, 'the filters are folded');
  await page.locator('.filter-box > summary').click();
  await page.getByLabel('Function', { exact: true }).waitFor();
  await screenshot(page, 'regression-phone-filters-390');
  await page.close();
});

test('Paging: "← Newer" works after a reload, and live updates can be paused', async () => {
  await server.api('/api/v1/runs:batch', {
    method: 'POST',
    body: { runs: Array.from({ length: 120 }, (_, i) => ({ function: 'demo.echo', args: [`page-${i}`], queue: 'ui-pages', delay: 3600 })) },
  });
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/runs?queue=ui-pages`);
    const firstRow = page.locator('tr[data-run-id]').first();
    await firstRow.waitFor();
    const page1 = await firstRow.getAttribute('data-run-id');
    await page.getByRole('button', { name: 'Older →' }).click();
    await page.waitForFunction((id) => document.querySelector('tr[data-run-id]')?.dataset.runId !== id, page1);
    const page2 = await firstRow.getAttribute('data-run-id');
    await page.getByRole('button', { name: 'Older →' }).click();
    await page.waitForFunction((id) => document.querySelector('tr[data-run-id]')?.dataset.runId !== id, page2);
    await page.reload();
    await firstRow.waitFor();
    await page.getByRole('button', { name: '← Newer' }).click();
    await page.waitForFunction((id) => document.querySelector('tr[data-run-id]')?.dataset.runId === id, page2);
    await page.getByRole('button', { name: '← Newer' }).click();
    await page.waitForFunction((id) => document.querySelector('tr[data-run-id]')?.dataset.runId === id, page1);
    assert.equal(new URL(page.url()).searchParams.get('cursor'), null, 'back on the first page');

    // Paused: a new run does not move page 1; resumed: it shows at once.
    await page.locator('[data-pause-live]').click();
    await page.locator('[data-pause-live][aria-pressed="true"]').waitFor();
    const made = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', queue: 'ui-pages', delay: 3600 } });
    // Longer than a polling period and the page's refresh throttle together.
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(await page.locator(`tr[data-run-id="${made.id}"]`).count(), 0, 'the paused page changed');
    await page.locator('[data-pause-live]').click();
    await page.locator(`tr[data-run-id="${made.id}"]`).waitFor();
    await page.close();
  }
});

test("The CSV panel's text: a space before \"in the header\", and the errors listed once", async () => {
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/functions#fn-numbers.import`);
    const card = page.locator('article[data-function="numbers.import"]');
    await card.getByText('Upload a CSV file…').click();
    const hint = (await card.locator('.field-hint').filter({ hasText: 'Needs the column' }).textContent()).replace(/\s+/g, ' ');
    assert.match(hint, /e164 in the header/, hint);
    await card.getByLabel('CSV file', { exact: true }).setInputFiles({
      name: 'bad.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('e164,carrier\n,acme\n12,acme\n'),
    });
    await card.getByRole('button', { name: 'Upload and run' }).click();
    const box = card.locator('.csv-errors');
    await box.locator("tbody tr").first().waitFor();
    const messages = await box.locator('tbody td:last-child').allTextContents();
    const text = await box.textContent();
    for (const message of messages) {
      assert.equal(text.split(message).length - 1, 1, `"${message}" shown more than once at ${width} px`);
    }
    await screenshot(page, `regression-csv-errors-${width}`);
    await page.close();
  }
  browser.errors.splice(0, browser.errors.length, ...browser.errors.filter((e) => !/status of 4\d\d/.test(e.text)));
});

test('Account tokens: the UI shows only the account and hides what the token may not do', async () => {
  let admin = '';
  const tokenServer = await startServer({
    tasks: TASKS,
    setup: async ({ binary, common }) => {
      const made = spawnSync(binary, ['token', 'create', '--admin', ...common], { encoding: 'utf8', timeout: TIMEOUT });
      assert.equal(made.status, 0, made.stderr);
      admin = made.stdout.trim();
    },
  });
  try {
    const asAdmin = { Authorization: `Bearer ${admin}` };
    const account = await tokenServer.api('/api/v1/tokens', { method: 'POST', headers: asAdmin, body: { name: 'acme-ui', account: 'acme' } });
    const asAcme = { Authorization: `Bearer ${account.token}` };
    // Runs of the server (no account) and of acme.
    await tokenServer.api('/api/v1/runs:batch', { method: 'POST', headers: asAdmin, body: { runs: [1, 2, 3].map((i) => ({ function: 'demo.echo', args: [i] })) } });
    await tokenServer.api('/api/v1/runs', { method: 'POST', headers: asAcme, body: { function: 'demo.echo', args: ['acme'] } });
    // The server never sends a command task's env to an account token.
    const tasks = await tokenServer.api('/api/v1/tasks', { headers: asAcme });
    assert.ok(!JSON.stringify(tasks).includes('s3cret-of-the-operator'), 'env sent to an account token');
    const acmeStats = await waitUntil(
      () => tokenServer.api('/api/v1/stats', { headers: asAcme }),
      (s) => s.statuses.completed === 1,
      { what: "acme's run to complete" },
    );
    for (const width of WIDTHS) {
      const page = await browser.newPage({ width, height: 900 });
      await page.goto(`${tokenServer.url}/`);
      // Once the first visit asked for a token: a token kept sooner may be forgotten by
      // that visit's own 401.
      await page.getByText('Sign in to taskmill').waitFor();
      await page.evaluate((token) => sessionStorage.setItem('taskmill.token', token), account.token);
      await page.goto(`${tokenServer.url}/`);
      await page.getByRole('heading', { name: 'Runs of account acme' }).waitFor();
      await settled(page);
      const total = Number((await page.locator('a[data-status="total"] .count-value').textContent()).replace(/,/g, ''));
      assert.equal(total, acmeStats.statuses.total, 'the counts are the account\'s');
      assert.equal(await page.getByRole('region', { name: 'Runners' }).count(), 0, 'no runners panel');
      assert.equal(await page.getByRole('region', { name: 'Scheduler' }).count(), 0, 'no scheduler panel');
      await screenshot(page, `regression-account-dashboard-${width}`);
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tasks' }).click();
      await page.locator('tr[data-task="ui-command"]').waitFor();
      assert.equal(await page.getByRole('button', { name: /^(Disable|Enable) task/ }).count(), 0, 'enable/disable offered');
      assert.equal(await page.getByRole('button', { name: 'Start task ui-command now' }).count(), 0, 'a command task offered to start');
      await page.getByRole('button', { name: 'Start task echo now' }).waitFor();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' }).click();
      await page.locator('tr[data-run-id]').first().waitFor();
      assert.equal(await page.locator('tr[data-run-id]').count(), 1, 'only the account\'s run is listed');
      await screenshot(page, `regression-account-runs-${width}`);
      await page.close();
    }
    // The first visit, before the token was kept, was asked for one: 401s in the console.
    browser.errors.splice(0, browser.errors.length, ...browser.errors.filter((e) => !(e.page.startsWith(tokenServer.url) && /status of 401/.test(e.text))));
  } finally {
    await tokenServer.stop();
  }
});

test('keyboard on the runs page: j and k mark a run, r retries it; bulk delete asks first', async () => {
  const { runs } = await server.api('/api/v1/runs:batch', {
    method: 'POST',
    body: { runs: [1, 2, 3].map((i) => ({ function: 'demo.echo', args: [`keys-${i}`], queue: 'ui-keys' })) },
  });
  for (const run of runs) {
    await waitUntil(() => server.api(`/api/v1/runs/${run.id}?queue=ui-keys`).then((r) => r.status), (s) => s === 'completed', { what: `run ${run.id}` });
  }
  const page = await browser.newPage();
  await page.goto(`${server.url}/runs?queue=ui-keys`);
  await page.locator('tr[data-run-id]').nth(2).waitFor();
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.keyboard.press('k');
  const marked = page.locator('tr[aria-current="true"]');
  assert.equal(await marked.getAttribute('data-run-id'), runs[2].id, 'the newest run is marked');
  await page.keyboard.press('r');
  await waitUntil(() => server.api(`/api/v1/runs/${runs[2].id}?queue=ui-keys`), (r) => r.max_attempts === 2, { what: 'the retry' });

  await page.getByRole('checkbox', { name: `Select run ${runs[0].id}` }).check();
  await page.getByRole('checkbox', { name: `Select run ${runs[1].id}` }).check();
  await page.getByRole('button', { name: 'Delete 2' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete 2 runs?' });
  await dialog.getByRole('button', { name: 'Delete runs' }).click();
  await page.locator(`tr[data-run-id="${runs[0].id}"]`).waitFor({ state: 'detached' });
  await page.locator(`tr[data-run-id="${runs[1].id}"]`).waitFor({ state: 'detached' });
  const left = await server.api('/api/v1/runs?queue=ui-keys');
  assert.deepEqual(left.runs.map((r) => r.id), [runs[2].id]);
  await page.close();
});

test('no console errors on any page', () => {
  assert.deepEqual(browser.errors, []);
});
