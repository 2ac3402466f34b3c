// The launches of a periodical task, newest first (GET /api/v1/runs?task=): each
// instant it was launched for (the run's scheduled_at, in the task's zone), the run,
// its status — did_not_start included — and how long after the instant it started.
// Runs started by hand (no scheduled_at) are listed too, marked so.
import { api } from '../api.js';
import { Dialog, Empty, ErrorMessage, Loading, StatusBadge } from '../components.js';
import { between, duration, shortId, zonedTime } from '../format.js';
import { html } from '../html.js';
import { useLive, useResource, useThrottled } from '../hooks.js';
import { isResync } from '../live.js';

export const HISTORY_SIZE = 25;

function runLink(run) {
  const queue = run.queue && run.queue !== 'default' ? `?queue=${encodeURIComponent(run.queue)}` : '';
  return `/runs/${encodeURIComponent(run.id)}${queue}`;
}

// How late the run started after its instant, or why it did not.
function Start({ run }) {
  if (run.status === 'did_not_start') return html`<span class="muted small">never started${run.error ? `: ${run.error}` : ''}</span>`;
  if (!run.started_at) return html`<span class="muted small">not yet</span>`;
  if (!run.scheduled_at) return html`<span class="small">${duration(between(run.created_at, run.started_at))} after launch</span>`;
  return html`<span class="small">${duration(between(run.scheduled_at, run.started_at))} after</span>`;
}

function History({ task }) {
  const runs = useResource(
    (signal) => api('/api/v1/runs', { signal, query: { task: task.name, limit: HISTORY_SIZE } }),
    [task.name],
  );
  const refresh = useThrottled(() => runs.reload({ quiet: true }), 1000);
  useLive((event) => {
    if (isResync(event) || (event.type.startsWith('run.') && event.data && event.data.task === task.name)) refresh();
  });
  if (runs.loading && !runs.data) return html`<${Loading}>Loading its launches…<//>`;
  if (!runs.data) return html`<${ErrorMessage} error=${runs.error} what="the task's launches" onRetry=${runs.reload} />`;
  const list = runs.data.runs || [];
  if (list.length === 0) return html`<${Empty}>No launches yet: the first is at its next fire time.<//>`;
  const zone = task.timezone || 'UTC';
  return html`<table class="table responsive history-table">
      <caption class="visually-hidden">Launches of ${task.name}, newest first</caption>
      <thead><tr><th scope="col">Instant</th><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Start</th></tr></thead>
      <tbody>
        ${list.map(
          (run) => html`<tr key=${run.id} data-history-run=${run.id} data-status=${run.status}>
            <td data-label="Instant">${run.scheduled_at
              ? html`<time datetime=${run.scheduled_at} title=${run.scheduled_at}>${zonedTime(run.scheduled_at, zone)}</time>`
              : html`<span class="muted small">started by hand, ${zonedTime(run.created_at, zone)}</span>`}</td>
            <td data-label="Run"><a href=${runLink(run)} title=${run.id}><code>${shortId(run.id)}</code></a></td>
            <td data-label="Status"><${StatusBadge} status=${run.status} /></td>
            <td data-label="Start"><${Start} run=${run} /></td>
          </tr>`,
        )}
      </tbody>
    </table>
    <p class="small muted">The ${list.length} most recent launches. <a href=${`/runs?task=${encodeURIComponent(task.name)}`}>All its runs</a></p>`;
}

export function TaskHistory({ task, onClose }) {
  return html`<${Dialog} open=${Boolean(task)} title=${task ? `Launches of ${task.name}` : ''} onClose=${onClose} wide>
    ${task && html`<${History} task=${task} />`}
  <//>`;
}
