// Acting on every run that matches the page's filters (state tab, search, filters),
// not only the page shown: the runs are first gathered page by page, so that the
// confirmation states how many each action will touch, then acted on a few at a time.
import { useState } from 'preact/hooks';
import { api, runPath } from '../api.js';
import { Dialog, notify } from '../components.js';
import { FINAL_STATUSES, isLive, number } from '../format.js';
import { html } from '../html.js';

// Most runs one action gathers and acts on; more are left for a second pass.
export const ALL_MATCHING_MAX = 10000;

async function gather(filters, signal) {
  const runs = [];
  let cursor = '';
  do {
    const page = await api('/api/v1/runs', { signal, query: { ...filters, cursor, limit: 1000 } });
    runs.push(...page.runs);
    cursor = page.next_cursor || '';
  } while (cursor && runs.length < ALL_MATCHING_MAX);
  return { runs: runs.slice(0, ALL_MATCHING_MAX), more: Boolean(cursor) || runs.length > ALL_MATCHING_MAX };
}

async function eachLimited(items, limit, work, onDone) {
  const failures = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (error) {
        failures.push({ item, error });
      }
      onDone();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failures;
}

const ACTIONS = {
  cancel: { pick: (r) => isLive(r.status), verb: 'Cancel', past: 'cancelled' },
  retry: { pick: (r) => FINAL_STATUSES.has(r.status), verb: 'Retry', past: 'retried' },
  delete: { pick: (r) => r.status !== 'running', verb: 'Delete', past: 'deleted' },
};

export function AllMatching({ filters, onDone }) {
  const [state, setState] = useState(null); // {runs, more} | {loading} | {error}
  const [working, setWorking] = useState(null); // {action, done, total}
  const open = async () => {
    setState({ loading: true });
    try {
      setState(await gather(filters));
    } catch (error) {
      setState({ error });
    }
  };
  const run = async (action) => {
    const targets = state.runs.filter(ACTIONS[action].pick);
    let done = 0;
    setWorking({ action, done, total: targets.length });
    const failures = await eachLimited(
      targets,
      8,
      (r) => (action === 'delete' ? api(runPath(r), { method: 'DELETE' }) : api(runPath(r, `/${action}`), { method: 'POST' })),
      () => setWorking({ action, done: ++done, total: targets.length }),
    );
    setWorking(null);
    setState(null);
    const ok = targets.length - failures.length;
    notify(`${number(ok)} run${ok === 1 ? '' : 's'} ${ACTIONS[action].past}.`);
    if (failures.length) {
      notify(`${number(failures.length)} could not be ${ACTIONS[action].past}: ${failures[0].error.message}`, { kind: 'error', timeout: 12000 });
    }
    onDone();
  };
  const counts = state && state.runs ? Object.fromEntries(Object.entries(ACTIONS).map(([k, a]) => [k, state.runs.filter(a.pick).length])) : {};
  return html`<button type="button" class="small" data-all-matching onClick=${open}>All matching…</button>
    <${Dialog} open=${Boolean(state)} title="Act on every run that matches" onClose=${() => !working && setState(null)}>
      ${state && state.loading && html`<p>Counting the runs that match…</p>`}
      ${state && state.error && html`<p class="error">Could not list the runs: ${state.error.message}</p>`}
      ${state &&
      state.runs &&
      html`<p data-matching=${state.runs.length}>
          <strong>${number(state.runs.length)}${state.more ? '+' : ''} run${state.runs.length === 1 ? '' : 's'}</strong> match the search, tab and filters${state.more ? `; an action touches the first ${number(ALL_MATCHING_MAX)} (newest first), run it again for the rest` : ''}.
        </p>
        <p class="small muted">Cancel stops pending and running runs; retry puts finished runs back to pending; delete removes runs that are not running, for good.</p>
        ${working && html`<p aria-live="polite">${ACTIONS[working.action].verb}: ${number(working.done)} / ${number(working.total)}</p>`}
        <div class="actions">
          <button type="button" onClick=${() => setState(null)} disabled=${Boolean(working)}>Keep them</button>
          ${Object.entries(ACTIONS).map(
            ([key, a]) => html`<button type="button" key=${key} class=${key === 'retry' ? 'primary' : 'danger'} data-action=${key}
              disabled=${Boolean(working) || counts[key] === 0} onClick=${() => run(key)}>${a.verb} ${number(counts[key])}</button>`,
          )}
        </div>`}
    <//>`;
}
