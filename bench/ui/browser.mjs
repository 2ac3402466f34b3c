// The web UI measured from inside the browser (headless Chromium driven by
// playwright-core, as the browser tests): how long each page takes to draw, how long a
// search takes to answer, and the JavaScript heap after visiting every page.
//
// Usage: node bench/ui/browser.mjs URL RUN_ID [ROUNDS] [WIDTH]   (bench/ui/run.sh calls
// it; WIDTH in px, default 1440)
//
// A page's draw time is measured by the page's own clock (performance.now()), so the
// round trips of the driver are not in it:
// - load: a fresh load of the page's address, from the navigation's start
//   (performance.timeOrigin) until its content is drawn: its data shown, nothing
//   "Loading…", and the next animation frame past that (the paint);
// - in-app: a click on a link of the page already loaded, from the click until drawn.
// Search: from the Enter in the search box until the answer is drawn.
// Heap: JSHeapUsedSize (CDP Performance.getMetrics) after every page was visited and a
// search made in one document of a fresh browser context, as someone browsing would,
// then again after a forced garbage collection.
// Each figure is the median of ROUNDS (default 5). Prints one JSON object.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../tests/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [url, runId, roundsArg, widthArg] = process.argv.slice(2);
if (!url || !runId) {
  console.error('usage: node bench/ui/browser.mjs URL RUN_ID [ROUNDS]');
  process.exit(2);
}
const ROUNDS = Number(roundsArg || 5);
const WIDTH = Number(widthArg || 1440);
const TIMEOUT = 60_000;

// When a page counts as drawn: what it shows once its data arrived. Run in the page.
const READY = {
  dashboard: () =>
    document.querySelector('a[data-status="total"] .count-value') &&
    document.querySelector('tr[data-queue]') &&
    document.querySelector('.chart canvas') &&
    !document.querySelector('.loading'),
  runs: () =>
    (document.querySelector('tr[data-run-id]') || document.querySelector('.empty')) &&
    [...document.querySelectorAll('.state-tab .state-count')].some((c) => /\d/.test(c.textContent)) &&
    !document.querySelector('.loading'),
  run: () => document.querySelector('.run-head') && !document.querySelector('.loading'),
  tasks: () => document.querySelector('tr[data-task]') && !document.querySelector('.loading'),
  queues: () =>
    document.querySelector('section[aria-label="Queues"] tr[data-queue]') &&
    !document.querySelector('section[aria-label="Queues"] .loading'),
  functions: () =>
    document.querySelector('[data-function] [data-figure="runs"]') && !document.querySelector('.loading'),
  search: () => document.querySelector('[data-search]') && !document.querySelector('.loading'),
};

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round1 = (v) => Math.round(v * 10) / 10;

// Waits in the page (on animation frames) until `ready` holds, then one more frame for
// the paint; resolves to performance.now() at that frame.
async function drawnAt(page, ready) {
  return page.evaluate(
    ([source, timeout]) =>
      new Promise((resolve, reject) => {
        const check = new Function(`return (${source})()`);
        const deadline = performance.now() + timeout;
        const tick = () => {
          if (check()) requestAnimationFrame(() => resolve(performance.now()));
          else if (performance.now() > deadline) reject(new Error(`not drawn: ${source}`));
          else requestAnimationFrame(tick);
        };
        tick();
      }),
    [ready.toString(), TIMEOUT],
  );
}

// A fresh load of `path`: navigation start → drawn.
async function load(page, path, ready) {
  await page.goto(`${url}${path}`, { waitUntil: 'commit' });
  return drawnAt(page, ready);
}

// A click on the element `selector` of the page shown (a link of the app): click → drawn.
// The click's time is taken in the page, by a listener that runs before the app's.
async function click(page, selector, ready) {
  await page.evaluate((sel) => {
    window.__clickedAt = null;
    document.addEventListener('click', () => { window.__clickedAt = performance.now(); }, { capture: true, once: true });
    document.querySelector(sel).click();
  }, selector);
  const at = await drawnAt(page, ready);
  return at - (await page.evaluate(() => window.__clickedAt));
}

// A search: Enter in the box → the answer drawn.
async function search(page, text) {
  await page.goto(`${url}/runs`, { waitUntil: 'commit' });
  await drawnAt(page, READY.runs);
  await page.locator('#run-search').fill(text);
  await page.evaluate(() => {
    window.__enterAt = null;
    document.getElementById('run-search').addEventListener('keydown', () => { window.__enterAt = performance.now(); }, { capture: true, once: true });
  });
  await page.locator('#run-search').press('Enter');
  const at = await drawnAt(page, READY.search);
  return at - (await page.evaluate(() => window.__enterAt));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: WIDTH, height: WIDTH < 600 ? 844 : 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // The state tabs this server offers, read once from the runs page.
  await page.goto(`${url}/runs`);
  await drawnAt(page, READY.runs);
  const states = await page.evaluate(() => [...document.querySelectorAll('.state-tab[data-state]')].map((t) => t.dataset.state).filter((s) => s !== 'all'));

  const pages = [
    ['dashboard', '/', READY.dashboard],
    ['runs', '/runs', READY.runs],
    ...states.map((s) => [`runs, tab ${s}`, `/runs?state=${s}`, READY.runs]),
    // The slow case of a derived tab: a queue of 1 M due runs and none scheduled.
    ['runs, tab scheduled of queue bench (none)', '/runs?state=scheduled&queue=bench', READY.runs],
    ['runs, tab retrying of queue bench (none)', '/runs?state=retrying&queue=bench', READY.runs],
    ['run', `/runs/${encodeURIComponent(runId)}`, READY.run],
    ['tasks', '/tasks', READY.tasks],
    ['queues (dashboard panel)', '/', READY.queues],
    ['functions', '/functions', READY.functions],
  ];
  const loads = Object.fromEntries(pages.map(([name]) => [name, []]));
  const inApp = { dashboard: [], runs: [], tasks: [], functions: [], run: [] };
  const searches = { 'by id': [], 'by text (found)': [], 'by text (nothing found)': [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, path, ready] of pages) loads[name].push(await load(page, path, ready));
    // In-app: through the navigation, as someone clicking around.
    await load(page, '/', READY.dashboard);
    for (const [name, ready] of [['runs', READY.runs], ['tasks', READY.tasks], ['functions', READY.functions], ['dashboard', READY.dashboard]]) {
      const href = name === 'dashboard' ? '/' : `/${name}`;
      inApp[name].push(await click(page, `nav[aria-label="Main"] a[href="${href}"]`, ready));
    }
    await load(page, '/runs', READY.runs);
    inApp.run.push(await click(page, 'tr[data-run-id] a[href^="/runs/"]', READY.run));
    searches['by id'].push(await search(page, runId));
    searches['by text (found)'].push(await search(page, 'bench-text'));
    searches['by text (nothing found)'].push(await search(page, 'no-such-text-anywhere'));
  }

  // The heap after visiting every page in one document, in a fresh context (its own
  // renderer process): the heap of the page loads above, garbage of documents gone
  // included, would otherwise count.
  const fresh = await browser.newContext({ viewport: { width: WIDTH, height: WIDTH < 600 ? 844 : 900 } });
  const visitor = await fresh.newPage();
  visitor.setDefaultTimeout(TIMEOUT);
  visitor.on('pageerror', (e) => errors.push(e.message));
  await load(visitor, '/', READY.dashboard);
  for (const [, path, ready] of pages.slice(1)) {
    await visitor.evaluate((to) => {
      window.history.pushState(null, '', to);
      window.dispatchEvent(new PopStateEvent('popstate'));
    }, path);
    await drawnAt(visitor, ready);
  }
  // And a search, in the same document.
  await visitor.evaluate(() => {
    window.history.pushState(null, '', '/runs');
    window.dispatchEvent(new PopStateEvent('popstate'));
  });
  await drawnAt(visitor, READY.runs);
  await visitor.locator('#run-search').fill('bench-text');
  await visitor.locator('#run-search').press('Enter');
  await drawnAt(visitor, READY.search);
  const cdp = await fresh.newCDPSession(visitor);
  await cdp.send('Performance.enable');
  const heap = async () => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    return metrics.find((m) => m.name === 'JSHeapUsedSize').value / (1024 * 1024);
  };
  const heapAfterVisits = await heap();
  await cdp.send('HeapProfiler.collectGarbage');
  const heapAfterGc = await heap();

  const out = {
    rounds: ROUNDS,
    width: WIDTH,
    load_ms: Object.fromEntries(Object.entries(loads).map(([k, v]) => [k, round1(median(v))])),
    in_app_ms: Object.fromEntries(Object.entries(inApp).map(([k, v]) => [k, round1(median(v))])),
    search_ms: Object.fromEntries(Object.entries(searches).map(([k, v]) => [k, round1(median(v))])),
    heap_mb: { after_every_page: round1(heapAfterVisits), after_gc: round1(heapAfterGc) },
    page_errors: errors,
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await browser.close();
}
