// The runs page's state tabs: every status and the three states derived from a pending
// run's run_at and attempt (due, scheduled, retrying), each with its count from
// GET /api/v1/stats/states (scoped to the token's account by the server).
import { api, capabilities } from '../api.js';
import { number, statusLabel } from '../format.js';
import { html } from '../html.js';
import { useLive, useResource, useThrottled } from '../hooks.js';
import { isResync } from '../live.js';

// In the order a run lives them; pending itself is the sum of the first three.
export const STATE_TABS = [
  { state: '', label: 'All' },
  { state: 'pending_due', label: 'Due', help: 'pending runs whose time has come: they wait for a free runner' },
  { state: 'scheduled', label: 'Scheduled', help: 'pending runs whose time is ahead, never attempted' },
  { state: 'retrying', label: 'Retrying', help: 'pending runs waiting for their next attempt after a failure' },
  { state: 'running' },
  { state: 'completed' },
  { state: 'failed' },
  { state: 'partial' },
  { state: 'lost' },
  { state: 'stopped' },
  { state: 'did_not_start' },
  { state: 'unknown_task' },
];
const DERIVED = new Set(['pending_due', 'scheduled', 'retrying']);

// The count a tab shows: a derived count read over the server's limit is a lower bound.
export function tabCount(counts, state) {
  if (!counts) return '';
  if (!state) return number(counts.total);
  const n = counts.states[state];
  if (n === undefined) return '';
  return DERIVED.has(state) && !counts.split.exact ? `≥ ${number(n)}` : number(n);
}

export function hasStateTabs() {
  return capabilities.has('GET', '/api/v1/stats/states');
}

export function StateTabs({ state, onChange }) {
  const counts = useResource((signal) => api('/api/v1/stats/states', { signal }), []);
  const refresh = useThrottled(() => counts.reload({ quiet: true }), 2000);
  useLive((event) => {
    if (isResync(event) || event.type.startsWith('run.')) refresh();
  });
  return html`<nav class="state-tabs" aria-label="Runs by state">
    ${STATE_TABS.map((tab) => {
      const label = tab.label || statusLabel(tab.state);
      const current = tab.state === state;
      return html`<button type="button" key=${tab.state || 'all'} class=${`state-tab${current ? ' current' : ''}`}
        data-state=${tab.state || 'all'} aria-pressed=${current ? 'true' : 'false'} title=${tab.help || ''}
        onClick=${() => onChange(tab.state)}>
        <span class="state-name">${label}</span> <span class="state-count">${tabCount(counts.data, tab.state)}</span>
      </button>`;
    })}
  </nav>`;
}
