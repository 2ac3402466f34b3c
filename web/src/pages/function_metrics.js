// A function's figures over the last hour (GET /api/v1/functions/{name}/stats): runs,
// failures, p50 / p95 of the attempt duration and of the start latency, and a chart
// of finished runs per minute with completed apart from failed. The chart is drawn
// only when opened, so a long catalogue does not draw one per function.
import { useState } from 'preact/hooks';
import { api, capabilities } from '../api.js';
import { ThroughputChart } from '../chart.js';
import { duration, number, parseTime } from '../format.js';
import { html } from '../html.js';
import { useLive, useResource, useThrottled } from '../hooks.js';
import { isResync } from '../live.js';

const ROUTE = '/api/v1/functions/{}/stats';

function seconds(value) {
  return value === null || value === undefined ? '—' : duration(value);
}

export function FunctionMetrics({ fn }) {
  // A server without the route shows no figures (docs/ui.md: optional routes).
  return capabilities.has('GET', ROUTE) ? html`<${Figures} fn=${fn} />` : null;
}

function Figures({ fn }) {
  const stats = useResource(
    (signal) => api(`/api/v1/functions/${encodeURIComponent(fn.name)}/stats`, { signal }),
    [fn.name],
  );
  const refresh = useThrottled(() => stats.reload({ quiet: true }), 2000);
  useLive((event) => {
    if (isResync(event) || (event.type === 'run.finished' && event.data && event.data.function === fn.name)) refresh();
  });
  const [open, setOpen] = useState(false);
  const s = stats.data;
  if (!s) {
    return html`<p class="fn-metrics small muted">${stats.error ? 'Last hour: figures unavailable.' : 'Last hour: loading…'}</p>`;
  }
  const points = s.points || [];
  const xs = points.map((p) => parseTime(p.at) / 1000);
  const since = parseTime(s.since) / 1000;
  // Minutes before the server began counting are unknown, not zero: gaps.
  const ys = (key) => points.map((p) => (parseTime(p.at) / 1000 + 60 <= since ? null : p[key]));
  return html`<div class="fn-metrics" data-testid="fn-metrics">
    <dl class="fn-figures" aria-label=${`${fn.name} over the last hour`}>
      <div><dt>Runs (1 h)</dt><dd data-figure="runs">${number(s.runs)}</dd></div>
      <div><dt>Failed</dt><dd data-figure="failed" class=${s.failed > 0 ? 'bad' : ''}>${number(s.failed)}</dd></div>
      <div><dt>Duration p50 / p95</dt><dd data-figure="duration">${seconds(s.duration_p50)} / ${seconds(s.duration_p95)}</dd></div>
      <div><dt>Start latency p50 / p95</dt><dd data-figure="latency">${seconds(s.latency_p50)} / ${seconds(s.latency_p95)}</dd></div>
    </dl>
    <details class="fn-chart" onToggle=${(e) => setOpen(e.currentTarget.open)}>
      <summary>Per minute, completed and failed</summary>
      ${open &&
      html`<${ThroughputChart}
        xs=${xs}
        lines=${[
          { label: 'completed', ys: ys('completed'), color: '#1f7a3a' },
          { label: 'failed', ys: ys('failed'), color: '#b3261e' },
        ]}
        label=${`Runs of ${fn.name} finished per minute over the last hour: ${number(s.runs - s.failed)} completed, ${number(s.failed)} failed`}
      />`}
    </details>
  </div>`;
}
