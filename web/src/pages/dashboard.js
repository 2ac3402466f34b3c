// Dashboard: runs by status, throughput over the last hour, queues, runners and
// the scheduler leader.
import { useMemo } from 'preact/hooks';
import { api, capabilities } from '../api.js';
import { ThroughputChart } from '../chart.js';
import { Empty, ErrorMessage, Loading, Time } from '../components.js';
import { STATUSES, STATUS_HELP, clockTime, duration, number, statusLabel } from '../format.js';
import { html } from '../html.js';
import { useDocumentTitle, useLive, useNow, useResource, useThrottled } from '../hooks.js';
import { finishedInLast, recordStats, throughputSeries } from '../throughput.js';

export function Dashboard() {
  useDocumentTitle('Dashboard');
  const stats = useResource(async (signal) => {
    const data = await api('/api/v1/stats', { signal });
    recordStats(data.statuses || {});
    return data;
  }, []);
  const refresh = useThrottled(() => stats.reload({ quiet: true }), 1000);
  useLive((event) => {
    if (event.type === 'tick' || event.type.startsWith('run.')) refresh();
  });

  return html`<section class="page">
    <div class="page-head">
      <h1 tabindex="-1">Dashboard</h1>
    </div>
    <${StatusCounts} stats=${stats} />
    <${Throughput} stats=${stats.data} />
    <div class="grid-3">
      <${QueuesPanel} />
      <${RunnersPanel} />
      <${SchedulerPanel} />
    </div>
  </section>`;
}

function StatusCounts({ stats }) {
  if (stats.loading && !stats.data) return html`<${Loading}>Loading run counts…<//>`;
  if (!stats.data) return html`<${ErrorMessage} error=${stats.error} what="run counts" onRetry=${stats.reload} />`;
  const statuses = stats.data.statuses || {};
  return html`<div>
    ${stats.error && html`<${ErrorMessage} error=${stats.error} what="fresh run counts" />`}
    <h2 class="visually-hidden">Runs by status</h2>
    <ul class="counts" aria-label="Runs by status">
      ${STATUSES.map(
        (status) => html`<li key=${status}>
          <a class=${`count count-${status}`} href=${`/runs?status=${status}`} title=${STATUS_HELP[status]} data-status=${status}>
            <span class="count-value">${number(statuses[status] || 0)}</span>
            <span class="count-label">${statusLabel(status)}</span>
          </a>
        </li>`,
      )}
      <li>
        <a class="count count-total" href="/runs" data-status="total">
          <span class="count-value">${number(statuses.total || 0)}</span>
          <span class="count-label">total stored</span>
        </a>
      </li>
    </ul>
  </div>`;
}

function Throughput({ stats }) {
  const now = useNow(5000);
  const server = capabilities.has('GET', '/api/v1/stats/throughput');
  const history = useResource(
    (signal) => (server ? api('/api/v1/stats/throughput', { signal, query: { window: 3600, step: 10 } }) : null),
    [],
  );
  useLive((event) => {
    if (server && event.type === 'tick') history.reload({ quiet: true });
  });
  const series = useMemo(() => {
    if (server && history.data && Array.isArray(history.data.points)) {
      const step = history.data.step || 10;
      const xs = [];
      const ys = [];
      for (const point of history.data.points) {
        xs.push(Date.parse(point.at) / 1000);
        ys.push((point.finished || 0) / step);
      }
      return { xs, ys, since: xs[0] ?? null, span: 3600 };
    }
    return throughputSeries(now / 1000);
  }, [now, stats, history.data, server]);
  const lastMinute = server ? null : finishedInLast(60, now / 1000);
  const peak = series.ys.reduce((m, y) => (y !== null && y > m ? y : m), 0);
  const since = series.since;
  return html`<section class="panel" aria-labelledby="throughput-title">
    <div class="panel-head">
      <h2 id="throughput-title">
        Finished runs per second, last ${series.span >= 3600 ? 'hour' : `${Math.round(series.span / 60)} minutes`}
      </h2>
      <p class="muted small">
        ${server
          ? 'As reported by the server.'
          : since
            ? `Measured by this browser tab since ${clockTime(since * 1000)}; the server does not keep this history yet.`
            : 'Measured by this browser tab while it is open.'}
      </p>
    </div>
    <${ThroughputChart}
      xs=${series.xs}
      ys=${series.ys}
      label=${`Chart of finished runs per second over the last ${series.span >= 3600 ? 'hour' : `${Math.round(series.span / 60)} minutes`}; peak ${peak.toFixed(2)} per second`}
    />
    ${lastMinute !== null &&
    html`<p class="small muted">
      ${number(lastMinute)} runs finished in the last minute; peak ${peak >= 10 ? Math.round(peak) : peak.toFixed(2)}/s.
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
    if (available && (event.type === 'tick' || event.type.startsWith('run.'))) refresh();
  });
  return res;
}

function QueuesPanel() {
  const res = useOptional('/api/v1/queues');
  const now = useNow(5000);
  const queues = (res.data && res.data.queues) || [];
  return html`<${OptionalPanel} title="Queues" route="/api/v1/queues" what="queue depths">
    ${res.loading && !res.data
      ? html`<${Loading} />`
      : !res.data
        ? html`<${ErrorMessage} error=${res.error} what="queues" onRetry=${res.reload} />`
        : queues.length === 0
          ? html`<${Empty}>No queues yet: a queue appears with its first run.<//>`
          : html`<table class="compact">
              <thead><tr><th scope="col">Queue</th><th scope="col" class="num">Pending</th><th scope="col" class="num">Running</th><th scope="col">Oldest pending</th></tr></thead>
              <tbody>
                ${queues.map(
                  (q) => html`<tr key=${q.name}>
                    <th scope="row"><a href=${`/runs?queue=${encodeURIComponent(q.name)}`}>${q.name}</a>${q.paused ? html` <span class="tag">paused</span>` : ''}</th>
                    <td class="num">${number(q.pending ?? 0)}</td>
                    <td class="num">${number(q.running ?? 0)}</td>
                    <td>${q.oldest_pending_age != null
                      ? duration(q.oldest_pending_age)
                      : q.oldest_pending_at
                        ? html`<${Time} at=${q.oldest_pending_at} now=${now} />`
                        : '—'}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
  <//>`;
}

function RunnersPanel() {
  const res = useOptional('/api/v1/runners');
  const now = useNow(5000);
  const runners = (res.data && res.data.runners) || [];
  return html`<${OptionalPanel} title="Runners" route="/api/v1/runners" what="its runners and their slots">
    ${res.loading && !res.data
      ? html`<${Loading} />`
      : !res.data
        ? html`<${ErrorMessage} error=${res.error} what="runners" onRetry=${res.reload} />`
        : runners.length === 0
          ? html`<${Empty}>No runner is connected. Runs wait as pending until one starts.<//>`
          : html`<ul class="runners">
              ${runners.map((r) => {
                const used = r.used ?? 0;
                const capacity = r.capacity ?? 0;
                return html`<li key=${r.id}>
                  <div class="runner-head"><code>${r.id}</code><span>${used} / ${capacity} slots</span></div>
                  <div class="meter" role="meter" aria-label=${`${r.id}: ${used} of ${capacity} slots used`} aria-valuemin="0" aria-valuemax=${capacity} aria-valuenow=${used}>
                    <span style=${`width:${capacity ? Math.min(100, (used / capacity) * 100) : 0}%`}></span>
                  </div>
                  ${r.last_seen_at && html`<span class="small muted">seen <${Time} at=${r.last_seen_at} now=${now} /></span>`}
                </li>`;
              })}
            </ul>`}
  <//>`;
}

function SchedulerPanel() {
  const res = useOptional('/api/v1/scheduler');
  const now = useNow(5000);
  const s = res.data || {};
  return html`<${OptionalPanel} title="Scheduler" route="/api/v1/scheduler" what="which node leads the scheduler">
    ${res.loading && !res.data
      ? html`<${Loading} />`
      : !res.data
        ? html`<${ErrorMessage} error=${res.error} what="the scheduler" onRetry=${res.reload} />`
        : html`<dl class="facts">
            <div><dt>Leader</dt><dd>${s.leader ? html`<code>${s.leader}</code>` : 'none: no scheduler holds the lease'}</dd></div>
            ${s.lease_until && html`<div><dt>Lease until</dt><dd><${Time} at=${s.lease_until} now=${now} /></dd></div>`}
            ${s.lag != null && html`<div><dt>Lag</dt><dd>${duration(s.lag)}</dd></div>`}
            ${s.last_tick_at && html`<div><dt>Last tick</dt><dd><${Time} at=${s.last_tick_at} now=${now} /></dd></div>`}
          </dl>`}
  <//>`;
}
