// The dashboard's per-queue sparklines (GET /api/v1/stats/queues): runs finished per
// minute and their mean start latency (due → start) over the last hour, under each
// queue's name, with the hour's totals in words for screen readers and the curious.
import { useMemo } from 'preact/hooks';
import { api, capabilities } from '../api.js';
import { duration, number, parseTime } from '../format.js';
import { html } from '../html.js';
import { useLive, useResource, useThrottled } from '../hooks.js';
import { isResync } from '../live.js';
import { Sparkline } from '../sparkline.js';

const ROUTE = '/api/v1/stats/queues';

// {available, byName: Map(name → the queue's figures) once loaded, since: ms}.
export function useQueueStats() {
  const available = capabilities.has('GET', ROUTE);
  const res = useResource((signal) => (available ? api(ROUTE, { signal }) : null), []);
  // The figures move by the minute: a finished run refreshes them at most every 5 s.
  const refresh = useThrottled(() => res.reload({ quiet: true }), 5000);
  useLive((event) => {
    if (available && (isResync(event) || event.type === 'run.finished')) refresh();
  });
  const byName = useMemo(
    () => (res.data ? new Map((res.data.queues || []).map((q) => [q.name, q])) : null),
    [res.data],
  );
  return { available, byName, since: res.data ? parseTime(res.data.since) : 0 };
}

export function QueueSparks({ name, stats, since }) {
  if (!stats) {
    return html`<div class="queue-sparks small muted" data-queue-sparks=${name}>no run finished in the last hour</div>`;
  }
  const points = stats.points || [];
  // Minutes before the server began counting are unknown, not zero.
  const counted = (p) => parseTime(p.at) + 60_000 > since;
  const finished = points.map((p) => (counted(p) ? p.completed + p.failed : null));
  const latency = points.map((p) => (counted(p) ? p.latency : null));
  const p50 = stats.latency_p50 === null || stats.latency_p50 === undefined ? '—' : duration(stats.latency_p50);
  return html`<div class="queue-sparks" data-queue-sparks=${name}>
    <span class="spark-figure">
      <${Sparkline} values=${finished} kind="runs" name="finished"
        label=${`Queue ${name}: ${number(stats.runs)} runs finished in the last hour (${number(stats.failed)} failed), per minute`} />
      <span class="small muted" data-figure="runs">${number(stats.runs)}/h</span>
    </span>
    <span class="spark-figure">
      <${Sparkline} values=${latency} kind="latency" name="latency"
        label=${`Queue ${name}: start latency per minute over the last hour, p50 ${p50}`} />
      <span class="small muted" data-figure="latency">p50 ${p50}</span>
    </span>
  </div>`;
}
