// Dashboard: runs by status, throughput over the last hour, queues, runners and
// the scheduler leader.
import { useMemo, useState } from 'preact/hooks';
import { api, capabilities, session } from '../api.js';
import { ThroughputChart } from '../chart.js';
import { Empty, ErrorMessage, Loading, Time, notify } from '../components.js';
import { STATUSES, STATUS_HELP, clockTime, duration, number, relativeTime, statusLabel } from '../format.js';
import { html } from '../html.js';
import { useDocumentTitle, useLive, useNow, useResource, useThrottled } from '../hooks.js';
import { isResync } from '../live.js';
import { finishedInLast, recordStats, throughputSeries } from '../throughput.js';
import { QueueSparks, useQueueStats } from './queue_sparks.js';

// An account token sees its own account's runs only; runners and the scheduler are the
// server's own business (their routes refuse such a token), so their panels are left out.
const accountView = () => session.known && !session.admin;

export function Dashboard() {
  useDocumentTitle('Dashboard');
  const stats = useResource(async (signal) => {
    const data = await api('/api/v1/stats', { signal });
    recordStats(data.statuses || {});
    return data;
  }, []);
  const refresh = useThrottled(() => stats.reload({ quiet: true }), 1000);
  useLive((event) => {
    if (isResync(event) || event.type.startsWith('run.')) refresh();
  });

  return html`<section class="page">
    <div class="page-head">
      <h1 tabindex="-1">Dashboard</h1>
    </div>
    <${StatusCounts} stats=${stats} />
    <${Throughput} stats=${stats.data} />
    <div class=${accountView() ? 'grid-1' : 'grid-3'}>
      <${QueuesPanel} />
      ${!accountView() && html`<${RunnersPanel} />`}
      ${!accountView() && html`<${SchedulerPanel} />`}
    </div>
  </section>`;
}

// Counts of 7 digits and more ("2,000,000") are set smaller so that they stay in their card.
function CountValue({ n }) {
  const text = number(n);
  return html`<span class=${text.length > 7 ? 'count-value long' : 'count-value'} title=${text}>${text}</span>`;
}

function StatusCounts({ stats }) {
  if (stats.loading && !stats.data) return html`<${Loading}>Loading run counts…<//>`;
  if (!stats.data) return html`<${ErrorMessage} error=${stats.error} what="run counts" onRetry=${stats.reload} />`;
  const statuses = stats.data.statuses || {};
  return html`<div>
    ${stats.error && html`<${ErrorMessage} error=${stats.error} what="fresh run counts" />`}
    <h2 class=${accountView() ? 'scope' : 'visually-hidden'}>${accountView() ? `Runs of account ${session.account || '(none)'}` : 'Runs by status'}</h2>
    <ul class="counts" aria-label="Runs by status">
      ${STATUSES.map(
        (status) => html`<li key=${status}>
          <a class=${`count count-${status}`} href=${`/runs?status=${status}`} title=${STATUS_HELP[status]} data-status=${status}>
            <${CountValue} n=${statuses[status] || 0} />
            <span class="count-label">${statusLabel(status)}</span>
          </a>
        </li>`,
      )}
      <li>
        <a class="count count-total" href="/runs" data-status="total">
          <${CountValue} n=${statuses.total || 0} />
          <span class="count-label">total stored</span>
        </a>
      </li>
    </ul>
  </div>`;
}

// Points of GET /api/v1/stats/throughput as runs per second: null before the server
// began counting (unknown, not zero), and the step in progress divided by the seconds
// it has lasted so far.
export function serverSeries(answer, now) {
  const step = answer.step || 10;
  const since = answer.since ? Date.parse(answer.since) / 1000 : null;
  const xs = [];
  const ys = [];
  const failedYs = [];
  answer.points.forEach((point, i) => {
    const at = Date.parse(point.at) / 1000;
    xs.push(at);
    const last = i === answer.points.length - 1;
    if (since !== null && at + step <= since) {
      ys.push(null);
      failedYs.push(null);
      return;
    }
    const start = since !== null ? Math.max(at, since) : at;
    const end = last ? Math.min(at + step, now) : at + step;
    ys.push((point.finished || 0) / Math.max(1, end - start));
    failedYs.push(((point.failed || 0) + (point.lost || 0)) / Math.max(1, end - start));
  });
  const total = answer.points.reduce((sum, p) => sum + (p.finished || 0), 0);
  const failed = answer.points.reduce((sum, p) => sum + (p.failed || 0) + (p.lost || 0), 0);
  return { xs, ys, failedYs, since, span: answer.window || 3600, total, failed };
}

const STEP = 10;

function Throughput({ stats }) {
  const now = useNow(5000);
  const server = capabilities.has('GET', '/api/v1/stats/throughput');
  const history = useResource(
    (signal) => (server ? api('/api/v1/stats/throughput', { signal, query: { window: 3600, step: STEP } }) : null),
    [],
  );
  // A finished run moves the curve: refresh soon after, at most every 2 s.
  const refresh = useThrottled(() => history.reload({ quiet: true }), 2000);
  useLive((event) => {
    if (server && (isResync(event) || event.type === 'run.finished')) refresh();
  });
  const series = useMemo(() => {
    if (server && history.data && Array.isArray(history.data.points)) return serverSeries(history.data, now / 1000);
    return throughputSeries(now / 1000);
  }, [now, stats, history.data, server]);
  const lastMinute = server ? null : finishedInLast(60, now / 1000);
  const peak = series.ys.reduce((m, y) => (y !== null && y > m ? y : m), 0);
  const since = series.since;
  const spanText = series.span >= 3600 ? 'hour' : `${Math.round(series.span / 60)} minutes`;
  const rate = (y) => (y >= 10 ? String(Math.round(y)) : y.toFixed(2));
  return html`<section class="panel" aria-labelledby="throughput-title" data-throughput=${server ? 'server' : 'browser'}>
    <div class="panel-head">
      <h2 id="throughput-title">Finished runs per second, last ${spanText}</h2>
      <p class="muted small">
        ${server
          ? since && since > now / 1000 - 3600
            ? `Counted by this server since it started at ${clockTime(since * 1000)}.`
            : 'Counted by this server.'
          : since
            ? `Measured by this browser tab since ${clockTime(since * 1000)}; the server does not keep this history.`
            : 'Measured by this browser tab while it is open.'}
      </p>
    </div>
    ${server && history.error && !history.data && html`<${ErrorMessage} error=${history.error} what="the throughput" onRetry=${history.reload} />`}
    <${ThroughputChart}
      xs=${series.xs}
      ys=${series.ys}
      lines=${series.failedYs
        ? [
            { label: 'finished/s', ys: series.ys, color: '#2453a6' },
            { label: 'failed or lost/s', ys: series.failedYs, color: '#cf222e' },
          ]
        : undefined}
      label=${`Chart of finished runs per second over the last ${spanText}; peak ${peak.toFixed(2)} per second`}
    />
    ${server && history.data
      ? html`<p class="small muted" data-finished-total=${series.total}>
          ${number(series.total)} run${series.total === 1 ? '' : 's'} finished in the last ${spanText}${series.failed ? `, ${number(series.failed)} failed or lost` : ''}; peak ${rate(peak)}/s.
        </p>`
      : lastMinute !== null &&
        html`<p class="small muted">
          ${number(lastMinute)} runs finished in the last minute; peak ${rate(peak)}/s.
        </p>`}
  </section>`;
}

// A panel for data that a route may not offer yet.
function OptionalPanel({ title, route, what, children }) {
  const available = capabilities.has('GET', route);
  return html`<section class="panel" aria-label=${title}>
    <h2>${title}</h2>
    ${available
      ? children
      : html`<p class="muted not-available">Not available yet: this server does not report ${what}.</p>`}
  </section>`;
}

function useOptional(route) {
  const available = capabilities.has('GET', route);
  const res = useResource((signal) => (available ? api(route, { signal }) : null), []);
  const refresh = useThrottled(() => res.reload({ quiet: true }), 2000);
  useLive((event) => {
    if (available && (isResync(event) || event.type.startsWith('run.'))) refresh();
  });
  return res;
}

function QueuesPanel() {
  const res = useOptional('/api/v1/queues');
  const sparks = useQueueStats();
  const now = useNow(5000);
  const [busy, setBusy] = useState('');
  const listed = (res.data && res.data.queues) || [];
  // A queue that finished runs in the last hour but holds none now still has its
  // sparklines: it is listed after the others, with nothing pending or running.
  const queues = useMemo(() => {
    const names = new Set(listed.map((q) => q.name));
    const idle = sparks.byName ? [...sparks.byName.keys()].filter((name) => !names.has(name)) : [];
    return [...listed, ...idle.map((name) => ({ name, pending: 0, running: 0 }))];
  }, [listed, sparks.byName]);
  // Only admins may pause or resume a queue (the routes refuse account tokens).
  const canPause = capabilities.has('POST', '/api/v1/queues/{}/pause') && (!session.known || session.admin);
  const setPaused = async (q, pause) => {
    setBusy(q.name);
    try {
      await api(`/api/v1/queues/${encodeURIComponent(q.name)}/${pause ? 'pause' : 'resume'}`, { method: 'POST' });
      notify(`Queue ${q.name} ${pause ? 'paused: its pending runs wait until it is resumed' : 'resumed'}.`);
      await res.reload({ quiet: true });
    } catch (error) {
      notify(`Could not ${pause ? 'pause' : 'resume'} queue ${q.name}: ${error.message}`, { kind: 'error' });
    } finally {
      setBusy('');
    }
  };
  return html`<${OptionalPanel} title="Queues" route="/api/v1/queues" what="queue depths">
    ${res.loading && !res.data
      ? html`<${Loading} />`
      : !res.data
        ? html`<${ErrorMessage} error=${res.error} what="queues" onRetry=${res.reload} />`
        : queues.length === 0
          ? html`<${Empty}>No queue has pending or running runs: everything submitted has finished.<//>`
          : html`<table class="compact queues">
              <thead><tr><th scope="col">Queue</th><th scope="col" class="num">Pending</th><th scope="col" class="num">Running</th><th scope="col">Oldest due</th>${canPause && html`<th scope="col"><span class="visually-hidden">Actions</span></th>`}</tr></thead>
              <tbody>
                ${queues.map(
                  (q) => html`<tr key=${q.name} data-queue=${q.name} class=${sparks.available ? 'has-sparks' : undefined}>
                    <th scope="row"><a href=${`/runs?queue=${encodeURIComponent(q.name)}`}>${q.name}</a>${q.paused ? html` <span class="tag">paused</span>` : ''}</th>
                    <td class="num">${number(q.pending ?? 0)}</td>
                    <td class="num">${number(q.running ?? 0)}</td>
                    <td class="oldest">${q.next_run_at
                      ? html`<span class="muted" title="Every pending run is scheduled for later or waits for a retry">none due; next ${relativeTime(q.next_run_at, now)}</span>`
                      : q.oldest_pending_at
                        ? html`<${Time} at=${q.oldest_pending_at} now=${now} />`
                        : q.pending > 0 && q.oldest_pending_age != null
                          ? duration(q.oldest_pending_age)
                          : '—'}</td>
                    ${canPause &&
                    html`<td class="row-actions"><button type="button" class="small" disabled=${busy === q.name}
                      aria-label=${`${q.paused ? 'Resume' : 'Pause'} queue ${q.name}`}
                      onClick=${() => setPaused(q, !q.paused)}>${q.paused ? 'Resume' : 'Pause'}</button></td>`}
                  </tr>${sparks.available &&
                  html`<tr key=${`${q.name}\u0000sparks`} class="spark-row"><td colspan=${canPause ? 5 : 4}>
                    <${QueueSparks} name=${q.name} stats=${sparks.byName && sparks.byName.get(q.name)} since=${sparks.since} />
                  </td></tr>`}`,
                )}
              </tbody>
            </table>`}
  <//>`;
}

function RunnersPanel() {
  const res = useOptional('/api/v1/runners');
  const now = useNow(5000);
  const runners = (res.data && res.data.runners) || [];
  const used = runners.reduce((sum, r) => sum + (r.used ?? 0), 0);
  const total = runners.reduce((sum, r) => sum + (r.capacity ?? 0), 0);
  return html`<${OptionalPanel} title="Runners" route="/api/v1/runners" what="its runners and their slots">
    ${res.loading && !res.data
      ? html`<${Loading}>Loading runners…<//>`
      : !res.data
        ? html`<${ErrorMessage} error=${res.error} what="runners" onRetry=${res.reload} />`
        : runners.length === 0
          ? html`<${Empty}>No runner is connected. Runs wait as pending until one starts.<//>`
          : html`<p class="small muted runners-total">${used} of ${total} slots in use on ${runners.length} runner${runners.length === 1 ? '' : 's'}.</p>
            <ul class="runners">
              ${runners.map((r) => {
                const busy = r.used ?? 0;
                const capacity = r.capacity ?? 0;
                const queues = r.queues && r.queues.length ? r.queues.join(', ') : 'every queue';
                const seen = r.last_seen || r.last_seen_at;
                return html`<li key=${r.id} data-runner=${r.id}>
                  <div class="runner-head"><code>${r.id}</code><span class="slots">${busy} / ${capacity} slots</span></div>
                  <div class="meter" role="meter" aria-label=${`${r.id}: ${busy} of ${capacity} slots used`} aria-valuemin="0" aria-valuemax=${capacity} aria-valuenow=${busy}>
                    <span style=${`width:${capacity ? Math.min(100, (busy / capacity) * 100) : 0}%`}></span>
                  </div>
                  <span class="small muted">${r.kind ? `${r.kind}, ` : ''}${queues}${r.kind === 'remote' && seen ? html`, seen <${Time} at=${seen} now=${now} />` : ''}</span>
                </li>`;
              })}
            </ul>`}
  <//>`;
}

function SchedulerPanel() {
  const res = useOptional('/api/v1/scheduler');
  const now = useNow(5000);
  const s = res.data || {};
  const lag = s.lag_seconds ?? s.lag;
  return html`<${OptionalPanel} title="Scheduler" route="/api/v1/scheduler" what="which node leads the scheduler">
    ${res.loading && !res.data
      ? html`<${Loading}>Loading the scheduler…<//>`
      : !res.data
        ? html`<${ErrorMessage} error=${res.error} what="the scheduler" onRetry=${res.reload} />`
        : html`<dl class="facts scheduler-facts">
            <div>
              <dt>Leader</dt>
              <dd data-leader=${s.leader || ''}>
                ${s.leader
                  ? html`<code>${s.leader}</code>${s.is_leader ? html` <span class="tag">this server</span>` : ''}`
                  : 'none: no scheduler holds the lease, so periodical and continuous tasks are not launched'}
              </dd>
            </div>
            ${s.lease_until && html`<div><dt>Lease until</dt><dd><${Time} at=${s.lease_until} now=${now} /></dd></div>`}
            <div>
              <dt>Lag</dt>
              <dd>
                ${lag == null
                  ? s.leader ? 'known on the leading server' : '—'
                  : s.tasks === 0
                    ? '— (nothing scheduled)'
                    : lag < 0.001
                      ? 'none (launches stored on time)'
                      : duration(lag)}
              </dd>
            </div>
            ${s.tasks != null && html`<div><dt>Scheduled tasks</dt><dd>${number(s.tasks)} <span class="small muted">enabled periodical or continuous</span></dd></div>`}
            ${s.last_tick_at && html`<div><dt>Last tick</dt><dd><${Time} at=${s.last_tick_at} now=${now} /></dd></div>`}
          </dl>`}
  <//>`;
}
