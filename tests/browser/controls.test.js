// Controls that peer dashboards have, at 1440 and 390 px: the queues' Pause / Resume
// buttons and dark mode (the system's choice, and the header's toggle, kept). A real
// `taskmill serve` (SQLite in a temp dir) and headless Chromium, as ui.test.js.
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

const noSideways = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

test('Queue pause and resume buttons: a paused queue holds its due runs, resumed it runs them', async () => {
  for (const width of WIDTHS) {
    const queue = `ui-hold-${width}`;
    // A run an hour away, so that the queue is listed before anything is due in it.
    await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', queue, delay: 3600 } });
    const page = await browser.newPage({ width, height: 900 });
    await page.goto(`${server.url}/`);
    const row = page.locator(`tr[data-queue="${queue}"]`);
    await page.getByRole('button', { name: `Pause queue ${queue}` }).click();
    await row.locator('.tag').filter({ hasText: 'paused' }).waitFor();
    await page.getByRole('button', { name: `Resume queue ${queue}` }).waitFor();
    const listed = await server.api('/api/v1/queues');
    assert.equal(listed.queues.find((q) => q.name === queue).paused, true);

    const due = await server.api('/api/v1/runs', { method: 'POST', body: { function: 'demo.echo', queue, args: ['held'] } });
    // The page shows the due run waiting in the paused queue.
    await row.locator('td.num').first().filter({ hasText: /^2$/ }).waitFor();
    assert.equal((await server.api(`/api/v1/runs/${due.id}`)).status, 'pending', 'a paused queue\'s run was taken');
    await screenshot(page, `queue-paused-${width}`);
    assert.ok(await noSideways(page), `no sideways scrolling at ${width} px`);

    await page.getByRole('button', { name: `Resume queue ${queue}` }).click();
    await waitUntil(() => server.api(`/api/v1/runs/${due.id}`), (r) => r.status === 'completed', { what: 'the held run to complete once resumed' });
    await page.getByRole('button', { name: `Pause queue ${queue}` }).waitFor();
    assert.equal(await row.locator('.tag').filter({ hasText: 'paused' }).count(), 0);
    await page.close();
  }
});

test('Dark mode: the UI follows prefers-color-scheme, and the toggle overrides it and is kept', async () => {
  const background = (page) => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  const DARK = 'rgb(15, 20, 27)';
  const LIGHT = 'rgb(246, 247, 249)';
  for (const width of WIDTHS) {
    const page = await browser.newPage({ width, height: 900 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${server.url}/runs`);
    await page.evaluate(() => localStorage.removeItem('taskmill.theme'));
    await page.reload();
    const toggle = page.locator('[data-theme-toggle]');
    await toggle.filter({ hasText: 'Light' }).waitFor();
    assert.equal(await background(page), DARK, 'a dark system gives the dark theme');
    await screenshot(page, `dark-runs-${width}`);

    await toggle.click();
    await toggle.filter({ hasText: 'Dark' }).waitFor();
    assert.equal(await background(page), LIGHT, 'the toggle gives the light theme');
    await page.reload();
    await toggle.filter({ hasText: 'Dark' }).waitFor();
    assert.equal(await background(page), LIGHT, 'the choice is kept after a reload');

    await page.emulateMedia({ colorScheme: 'light' });
    await toggle.click();
    await toggle.filter({ hasText: 'Light' }).waitFor();
    assert.equal(await background(page), DARK, 'the toggle gives the dark theme on a light system');
    await page.evaluate(() => localStorage.removeItem('taskmill.theme'));
    await page.reload();
    await toggle.filter({ hasText: 'Dark' }).waitFor();
    assert.equal(await background(page), LIGHT, 'without a choice, the light system\'s theme');
    await page.close();
  }
});

test('no console errors', () => {
  assert.deepEqual(browser.errors, []);
});
