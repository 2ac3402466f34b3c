// Finished runs per second over the last hour, measured by this browser tab until
// the API offers the history itself (GET /api/v1/stats/throughput, see docs/ui.md).
//
// While the event stream is up, every run.finished event is counted in its 10 s
// bucket. Without the stream, the dashboard's statistics refreshes are compared:
// the growth of the finished counts between two refreshes is spread evenly over the
// buckets in between (a run deleted or pruned meanwhile makes it an undercount).
// Buckets are kept in sessionStorage, so a reload keeps the curve.
import { liveState, subscribe } from './live.js';
import { FINAL_STATUSES } from './format.js';

export const BUCKET_SEC = 10;
export const WINDOW_SEC = 3600;
const STORE_KEY = 'taskmill.throughput';

let buckets = new Map(); // bucket start (unix seconds) → finished runs
let observedSince = null; // unix seconds; no data before this
let lastSample = null; // {t, finished}
let started = false;
let saveTimer = null;

function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
    if (saved && Array.isArray(saved.buckets)) {
      buckets = new Map(saved.buckets);
      observedSince = saved.observedSince ?? null;
      lastSample = saved.lastSample ?? null;
    }
  } catch {
    // nothing saved, or storage disabled
  }
}

function save() {
  if (saveTimer) return;
  saveTimer = setTimeout(() => {
    saveTimer = null;
    prune(Date.now() / 1000);
    try {
      sessionStorage.setItem(
        STORE_KEY,
        JSON.stringify({ buckets: [...buckets], observedSince, lastSample }),
      );
    } catch {
      // storage full or disabled: the curve lives in memory only
    }
  }, 1000);
}

function prune(now) {
  const oldest = Math.floor((now - WINDOW_SEC) / BUCKET_SEC) * BUCKET_SEC;
  for (const key of buckets.keys()) if (key < oldest) buckets.delete(key);
  if (observedSince !== null && observedSince < oldest) observedSince = oldest;
}

function add(t, count) {
  const key = Math.floor(t / BUCKET_SEC) * BUCKET_SEC;
  buckets.set(key, (buckets.get(key) || 0) + count);
}

function finishedOf(statuses) {
  let sum = 0;
  for (const status of FINAL_STATUSES) sum += statuses[status] || 0;
  return sum;
}

export function startThroughputRecorder() {
  if (started) return;
  started = true;
  load();
  subscribe((event) => {
    if (event.type !== 'run.finished') return;
    const now = Date.now() / 1000;
    if (observedSince === null) observedSince = now;
    add(now, 1);
    save();
  });
}

// Called with each /api/v1/stats answer.
export function recordStats(statuses, now = Date.now() / 1000) {
  const finished = finishedOf(statuses);
  if (observedSince === null) observedSince = now;
  const streaming = liveState().mode === 'streaming';
  if (lastSample && !streaming && now > lastSample.t) {
    const delta = finished - lastSample.finished;
    const span = now - lastSample.t;
    if (delta > 0 && span <= WINDOW_SEC) {
      // Spread over the buckets the interval covers, in proportion to the overlap.
      let t = lastSample.t;
      while (t < now) {
        const end = Math.min(now, (Math.floor(t / BUCKET_SEC) + 1) * BUCKET_SEC);
        add(t, (delta * (end - t)) / span);
        t = end;
      }
    }
  }
  lastSample = { t: now, finished };
  save();
}

const MIN_SPAN_SEC = 300;

// {xs: bucket starts (unix s), ys: runs/s or null where nothing was observed, span}.
// The span is the last hour, or less while this tab has observed less (at least
// 5 minutes), so that a fresh tab does not show an hour of nothing.
export function throughputSeries(now = Date.now() / 1000) {
  const end = Math.floor(now / BUCKET_SEC) * BUCKET_SEC;
  const xs = [];
  const ys = [];
  const since = observedSince === null ? Infinity : Math.floor(observedSince / BUCKET_SEC) * BUCKET_SEC;
  const span = Math.min(WINDOW_SEC, Math.max(MIN_SPAN_SEC, end - since + BUCKET_SEC));
  for (let t = end - span + BUCKET_SEC; t <= end; t += BUCKET_SEC) {
    xs.push(t);
    if (t < since) {
      ys.push(null);
    } else {
      const span = t === end ? Math.max(1, now - t) : BUCKET_SEC;
      ys.push((buckets.get(t) || 0) / span);
    }
  }
  return { xs, ys, since: observedSince, span };
}

// Finished runs in the last `seconds` (from the buckets).
export function finishedInLast(seconds, now = Date.now() / 1000) {
  let sum = 0;
  for (const [t, count] of buckets) if (t + BUCKET_SEC > now - seconds) sum += count;
  return Math.round(sum);
}
