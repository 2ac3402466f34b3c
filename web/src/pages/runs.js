// Runs: filters, keyset pagination (next_cursor), live insertion of new runs, and
// bulk cancel / retry of the selected runs.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, capabilities, runPath, session } from '../api.js';
import { Dialog, Empty, ErrorMessage, Loading, StatusBadge, Time, notify } from '../components.js';
import { FINAL_STATUSES, STATUSES, duration, isLive, runTiming, shortId, statusLabel } from '../format.js';
import { html } from '../html.js';
import { useDocumentTitle, useLive, useNow, useResource, useThrottled } from '../hooks.js';
import { eventRunId, isResync } from '../live.js';
import { navigate, queryParams, useLocation, withQuery } from '../router.js';
import { AllMatching } from './run_all.js';
import { SearchBox, SearchNote, hasSearch } from './run_search.js';
import { StateTabs, hasStateTabs } from './run_tabs.js';

const PAGE_SIZE = 50;
// parent_id and flow_id have no field of their own: a flow's page links to its
// steps' children (/runs?parent_id=STEP_RUN), and the list says what it holds.
const FILTER_KEYS = ['q', 'status', 'state', 'task', 'function', 'queue', 'account', 'created_after', 'created_before', 'parent_id', 'flow_id'];

const runKey = (run) => `${run.queue}\u0000${run.id}`;
export const runHref = (run) =>
  `/runs/${encodeURIComponent(run.id)}${run.queue && run.queue !== 'default' ? `?queue=${encodeURIComponent(run.queue)}` : ''}`;

// Whether a live event can change what the page shows: a run it shows changed, or a
// run that matches the filters may now belong on it (new runs only ever land on the
// first page). Fields an event lacks are not held against it.
export function mayAffect(event, filters, visibleIds, firstPage, now = Date.now()) {
  if (isResync(event)) return true;
  if (!event.type.startsWith('run.')) return false;
  const id = eventRunId(event);
  if (id && visibleIds.has(id)) return true;
  if (!firstPage) return false;
  const d = event.data && typeof event.data === 'object' ? event.data : {};
  const differs = (key, value) => Boolean(value) && d[key] !== undefined && d[key] !== value;
  if (differs('task', filters.task) || differs('function', filters.function) || differs('queue', filters.queue)) return false;
  if (differs('account_id', filters.account) || differs('status', filters.status)) return false;
  // A derived state (due, scheduled, retrying) is a kind of pending run.
  const stateStatus = ['pending_due', 'scheduled', 'retrying'].includes(filters.state) ? 'pending' : filters.state;
  if (differs('status', stateStatus)) return false;
  // A run created now is newer than a "created before" bound in the past.
  if (event.type === 'run.created' && filters.created_before && Date.parse(filters.created_before) < now) return false;
  return true;
}

// Runs `work` over items, at most `limit` at once; resolves to the failures.
async function eachLimited(items, limit, work) {
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
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failures;
}

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function Filters({ filters, onChange }) {
  const catalog = useResource(async (signal) => {
    const [tasks, functions] = await Promise.all([
      api('/api/v1/tasks', { signal }).catch(() => ({ tasks: [] })),
      api('/api/v1/functions', { signal }).catch(() => ({ functions: [] })),
    ]);
    return { tasks: tasks.tasks || [], functions: functions.functions || [] };
  }, []);
  const tasks = catalog.data ? catalog.data.tasks : [];
  const functions = catalog.data ? catalog.data.functions : [];
  const queues = [...new Set(['default', ...tasks.map((t) => t.queue).filter(Boolean)])];
  // Only an admin may list other accounts' runs; an account token sees its own.
  const hasAccount = capabilities.hasParam('GET', '/api/v1/runs', 'account') && session.admin;
  const hasRange = capabilities.hasParam('GET', '/api/v1/runs', 'created_after');
  const set = (key) => (event) =>
    onChange({ ...filters, ...(key === 'status' ? { state: '' } : {}), [key]: event.currentTarget.value });
  const setTime = (key) => (event) => {
    const value = event.currentTarget.value;
    onChange({ ...filters, [key]: value ? new Date(value).toISOString() : '' });
  };
  // The search box and the state tabs show themselves what they hold.
  const own = FILTER_KEYS.filter((k) => k !== 'q' && k !== 'state');
  const active = own.some((k) => filters[k]);
  const activeCount = own.filter((k) => filters[k]).length;
  // On a phone the filters fold behind one line, so that the runs come first.
  const [open, setOpen] = useState(() => !window.matchMedia('(max-width: 720px)').matches);
  return html`<details class="filter-box" open=${open} onToggle=${(e) => setOpen(e.currentTarget.open)}>
  <summary>Filters${activeCount ? ` (${activeCount} active)` : ''}</summary>
  <form class="filters" role="search" aria-label="Filter runs" onSubmit=${(e) => e.preventDefault()}>
    <div class="field">
      <label for="filter-status">Status</label>
      <select id="filter-status" value=${filters.status || ''} onChange=${set('status')}>
        <option value="">any status</option>
        ${STATUSES.map((s) => html`<option key=${s} value=${s}>${statusLabel(s)}</option>`)}
      </select>
    </div>
    <div class="field">
      <label for="filter-task">Task</label>
      <select id="filter-task" value=${filters.task || ''} onChange=${set('task')}>
        <option value="">any task</option>
        ${filters.task && !tasks.some((t) => t.name === filters.task) && html`<option value=${filters.task}>${filters.task}</option>`}
        ${tasks.map((t) => html`<option key=${t.name} value=${t.name}>${t.name}</option>`)}
      </select>
    </div>
    <div class="field">
      <label for="filter-function">Function</label>
      <select id="filter-function" value=${filters.function || ''} onChange=${set('function')}>
        <option value="">any function</option>
        ${filters.function && !functions.some((f) => f.name === filters.function) && html`<option value=${filters.function}>${filters.function}</option>`}
        ${functions.map((f) => html`<option key=${f.name} value=${f.name}>${f.name}</option>`)}
      </select>
    </div>
    <div class="field">
      <label for="filter-queue">Queue</label>
      <input id="filter-queue" list="filter-queues" value=${filters.queue || ''} placeholder="any queue" autocomplete="off" onChange=${set('queue')} />
      <datalist id="filter-queues">${queues.map((q) => html`<option key=${q} value=${q} />`)}</datalist>
    </div>
    ${hasAccount &&
    html`<div class="field">
      <label for="filter-account">Account</label>
      <input id="filter-account" value=${filters.account || ''} placeholder="any account" onChange=${set('account')} />
    </div>`}
    ${hasRange &&
    html`<div class="field">
        <label for="filter-after">Created after</label>
        <input id="filter-after" type="datetime-local" value=${toLocalInput(filters.created_after)} onChange=${setTime('created_after')} />
      </div>
      <div class="field">
        <label for="filter-before">Created before</label>
        <input id="filter-before" type="datetime-local" value=${toLocalInput(filters.created_before)} onChange=${setTime('created_before')} />
      </div>`}
    ${active && html`<button type="button" class="link clear" onClick=${() => onChange({ q: filters.q, state: filters.state })}>Clear filters</button>`}
  </form>
  </details>`;
}

export function Runs() {
  useDocumentTitle('Runs');
  const { search } = useLocation();
  const params = queryParams(search);
  const filters = Object.fromEntries(FILTER_KEYS.map((k) => [k, params[k] || '']));
  const cursor = params.cursor || '';
  // The cursors of the newer pages, kept in the address ("prev", "-" for the first
  // page) so that "← Newer" works after a reload and from a bookmark.
  const prev = params.prev ? params.prev.split(',') : [];
  const filterKey = JSON.stringify(filters);
  const now = useNow(5000);

  const firstIds = useRef(null); // ids of the first answer for this view: later ones are new
  const [selected, setSelected] = useState(new Map());
  const [confirm, setConfirm] = useState(null); // {action, runs}
  const [working, setWorking] = useState(false);

  useEffect(() => {
    firstIds.current = null;
    setSelected(new Map());
  }, [filterKey, cursor]);

  const runs = useResource(
    (signal) => api('/api/v1/runs', { signal, query: { ...filters, cursor, limit: PAGE_SIZE } }),
    [filterKey, cursor],
  );
  const refresh = useThrottled(() => runs.reload({ quiet: true }), 1000);
  const list = (runs.data && runs.data.runs) || [];
  const shown = useRef(new Set());
  shown.current = new Set(list.map((r) => r.id));
  useLive((event) => {
    if (mayAffect(event, filters, shown.current, !cursor)) refresh();
  });

  if (runs.data && firstIds.current === null) firstIds.current = new Set(list.map((r) => r.id));
  const newIds = firstIds.current;

  // Keep the selection in step with what the page shows (statuses change live).
  const visible = useMemo(() => new Map(list.map((r) => [runKey(r), r])), [runs.data]);
  const selectedRuns = [...selected.keys()].map((k) => visible.get(k)).filter(Boolean);
  const cancellable = selectedRuns.filter((r) => isLive(r.status));
  const retryable = selectedRuns.filter((r) => FINAL_STATUSES.has(r.status));
  const deletable = selectedRuns.filter((r) => r.status !== 'running');
  const allSelected = list.length > 0 && list.every((r) => selected.has(runKey(r)));

  const setFilters = (next) => navigate(withQuery('/runs', next), { replace: true });
  const goCursor = (c, stack = []) =>
    navigate(withQuery('/runs', { ...filters, cursor: c, prev: c ? stack.join(',') : '' }));
  const newer = () => {
    const stack = prev.slice();
    const back = stack.pop();
    goCursor(!back || back === '-' ? '' : back, stack);
  };

  const toggle = (run) => {
    const next = new Map(selected);
    if (next.has(runKey(run))) next.delete(runKey(run));
    else next.set(runKey(run), true);
    setSelected(next);
  };
  const toggleAll = () => {
    setSelected(allSelected ? new Map() : new Map(list.map((r) => [runKey(r), true])));
  };

  const act = async (action, targets) => {
    setWorking(true);
    const failures = await eachLimited(targets, 8, (run) =>
      action === 'delete' ? api(runPath(run), { method: 'DELETE' }) : api(runPath(run, `/${action}`), { method: 'POST' }),
    );
    setWorking(false);
    setConfirm(null);
    setSelected(new Map());
    const done = targets.length - failures.length;
    const verb = { cancel: 'Cancelled', retry: 'Retried', delete: 'Deleted' }[action];
    if (done > 0) notify(`${verb} ${done} run${done === 1 ? '' : 's'}.`);
    if (failures.length > 0) {
      notify(
        `${failures.length} run${failures.length === 1 ? '' : 's'} could not be ${{ cancel: 'cancelled', retry: 'retried', delete: 'deleted' }[action]}: ${failures[0].error.message}`,
        { kind: 'error', timeout: 12000 },
      );
    }
    runs.reload({ quiet: true });
  };

  // "Run now" on a row of a scheduled run or one waiting for its retry: its run_at
  // becomes now (the run page offers the same).
  const canRunNow = capabilities.has('POST', '/api/v1/runs/{id}/run-now');
  const runNow = async (run) => {
    try {
      await api(runPath(run, '/run-now'), { method: 'POST' });
      notify(`Run ${shortId(run.id)} made due now: a runner takes it next.`);
    } catch (error) {
      notify(`Could not make run ${shortId(run.id)} due now: ${error.message}`, { kind: 'error' });
    }
    runs.reload({ quiet: true });
  };

  // Keyboard: j / k move through the runs, Enter opens the one marked, r retries it
  // (when it is final), / opens the filters and puts the focus in the first one.
  const [mark, setMark] = useState(-1);
  const keys = useRef(null);
  keys.current = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || document.querySelector('dialog[open]')) return;
    const tag = (event.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select') return;
    const marked = list[mark];
    if (event.key === 'j' || event.key === 'k') {
      event.preventDefault();
      const next = Math.max(0, Math.min(list.length - 1, mark + (event.key === 'j' ? 1 : -1)));
      setMark(next);
      const row = document.querySelector(`tr[data-run-id="${CSS.escape(list[next] ? list[next].id : '')}"]`);
      if (row) row.scrollIntoView({ block: 'nearest' });
    } else if (event.key === 'Enter' && marked && tag !== 'a' && tag !== 'button') {
      navigate(runHref(marked));
    } else if (event.key === 'r' && marked) {
      if (FINAL_STATUSES.has(marked.status)) act('retry', [marked]);
      else notify(`Run ${shortId(marked.id)} is ${statusLabel(marked.status)}: only finished runs can be retried.`);
    } else if (event.key === '/') {
      event.preventDefault();
      const search = document.getElementById('run-search');
      if (search) {
        search.focus();
        return;
      }
      const box = document.querySelector('.filter-box');
      if (box) box.open = true;
      const field = document.querySelector('.filters select, .filters input');
      if (field) field.focus();
    }
  };
  useEffect(() => {
    const handler = (event) => keys.current(event);
    document.addEventListener('keydown', handler);
    return () => document.removeEventListener('keydown', handler);
  }, []);
  useEffect(() => setMark(-1), [filterKey, cursor]);

  const filtered = FILTER_KEYS.some((k) => filters[k]);
  return html`<section class="page">
    <div class="page-head">
      <h1 tabindex="-1">Runs</h1>
      <p class="muted">Newest first. New runs appear at the top as they are created. Keys: <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> opens, <kbd>r</kbd> retries, <kbd>/</kbd> searches.</p>
    </div>
    ${hasSearch() && html`<${SearchBox} q=${filters.q} onSearch=${(q) => setFilters({ ...filters, q })} />`}
    ${runs.data && filters.q && html`<${SearchNote} search=${runs.data.search} />`}
    ${hasStateTabs() && html`<${StateTabs} state=${filters.state || filters.status || ''} onChange=${(state) => setFilters({ ...filters, status: '', state })} />`}
    ${(filters.parent_id || filters.flow_id) &&
    html`<p class="filter-note" data-parent-filter>
      ${filters.parent_id
        ? html`Children of run <a href=${`/runs/${encodeURIComponent(filters.parent_id)}`}><code>${filters.parent_id}</code></a>`
        : html`Runs of flow <a href=${`/flows/runs/${encodeURIComponent(filters.flow_id)}`}><code>${filters.flow_id}</code></a>`}
      <button type="button" class="link" onClick=${() => setFilters({ ...filters, parent_id: '', flow_id: '' })}>show every run</button>
    </p>`}
    <${Filters} filters=${filters} onChange=${setFilters} />
    <div class="bulk" role="toolbar" aria-label="Actions on selected runs">
      ${list.length > 0 &&
      html`<label class="select-all-narrow"
        ><input type="checkbox" checked=${allSelected} onChange=${toggleAll} /> Select all</label
      >`}
      <span class="bulk-count" aria-live="polite">${selected.size > 0 ? `${selectedRuns.length} selected` : 'Select runs to cancel or retry them together.'}</span>
      <button type="button" class="small" disabled=${cancellable.length === 0 || working} onClick=${() => setConfirm({ action: 'cancel', runs: cancellable })}>
        Cancel${cancellable.length ? ` ${cancellable.length}` : ''}
      </button>
      <button type="button" class="small" disabled=${retryable.length === 0 || working} onClick=${() => setConfirm({ action: 'retry', runs: retryable })}>
        Retry${retryable.length ? ` ${retryable.length}` : ''}
      </button>
      <button type="button" class="small danger-outline" disabled=${deletable.length === 0 || working} onClick=${() => setConfirm({ action: 'delete', runs: deletable })}>
        Delete${deletable.length ? ` ${deletable.length}` : ''}
      </button>
      ${filtered && html`<${AllMatching} filters=${filters} onDone=${() => runs.reload({ quiet: true })} />`}
    </div>
    ${runs.loading && !runs.data
      ? html`<${Loading}>Loading runs…<//>`
      : !runs.data
        ? html`<${ErrorMessage} error=${runs.error} what="the runs" onRetry=${runs.reload} />`
        : list.length === 0
          ? html`<${Empty}>
              ${filtered
                ? html`<p><strong>No run matches these filters.</strong></p><p><button type="button" class="link" onClick=${() => setFilters({})}>Clear the filters</button> to see every run.</p>`
                : cursor
                  ? html`<p><strong>No older runs.</strong></p><p><button type="button" class="link" onClick=${() => goCursor('')}>Back to the newest runs</button></p>`
                  : html`<p><strong>No runs yet.</strong></p><p>Start a task from the <a href="/tasks">Tasks</a> page or run a function from the <a href="/functions">Functions</a> page; it shows up here at once.</p>`}
            <//>`
          : html`${runs.error && html`<${ErrorMessage} error=${runs.error} what="fresh runs" />`}
            <table class="table responsive runs-table">
              <thead>
                <tr>
                  <th scope="col" class="check">
                    <input type="checkbox" aria-label="Select every run on this page" checked=${allSelected} onChange=${toggleAll} />
                  </th>
                  <th scope="col">Status</th>
                  <th scope="col">Run</th>
                  <th scope="col">Task or function</th>
                  <th scope="col">Queue</th>
                  <th scope="col">Created</th>
                  <th scope="col">Duration</th>
                  <th scope="col" class="num">Attempt</th>
                </tr>
              </thead>
              <tbody>
                ${list.map((run) => {
                  const timing = runTiming(run, now);
                  const took = timing.took;
                  const marked = list[mark] === run;
                  return html`<tr key=${runKey(run)} data-run-id=${run.id} aria-current=${marked ? 'true' : undefined}
                    class=${`${newIds && !newIds.has(run.id) ? 'new' : ''}${marked ? ' marked' : ''}`}>
                    <td class="check">
                      <input type="checkbox" aria-label=${`Select run ${run.id}`} checked=${selected.has(runKey(run))} onChange=${() => toggle(run)} />
                    </td>
                    <td data-label="Status" class="status-cell"><${StatusBadge} status=${run.status} /></td>
                    <td data-label="Run"><a href=${runHref(run)} title=${run.id}><code>${shortId(run.id)}</code></a></td>
                    <td data-label="Task or function" class="what"><div>
                      ${run.task ? html`<strong>${run.task}</strong> <span class="muted small">${run.function}</span>` : html`<code>${run.function}</code>`}
                      ${run.progress && run.progress.total > 0 && html`<div class="small muted">${run.progress.succeeded + run.progress.failed} / ${run.progress.total} rows</div>`}
                    </div></td>
                    <td data-label="Queue" data-short="queue" class="meta">${run.queue}</td>
                    <td data-label="Created" class="meta"><${Time} at=${run.created_at} now=${now} /></td>
                    <td data-label="Duration" data-short=${!timing.wait && took !== null ? 'took' : undefined} class="meta duration">${timing.wait
                      ? html`<span data-wait=${timing.kind}>${timing.wait}</span>${took !== null ? html` <span class="muted small">(took ${duration(took)})</span>` : ''}${canRunNow && !timing.wait.endsWith('due now') &&
                        html` <button type="button" class="small link run-now" data-run-now=${run.id} aria-label=${`Run ${run.id} now`} onClick=${() => runNow(run)}>Run now</button>`}`
                      : took !== null ? duration(took) : html`<span class="muted">—</span>`}</td>
                    <td data-label="Attempt" data-short="attempt" class="num meta">${run.attempt || 0} / ${run.max_attempts || 1}</td>
                  </tr>`;
                })}
              </tbody>
            </table>`}
    ${runs.data &&
    (cursor || runs.data.next_cursor) &&
    html`<nav class="pager" aria-label="Pages of runs">
      <button type="button" disabled=${!cursor} onClick=${newer}>← Newer</button>
      <button type="button" disabled=${!cursor} onClick=${() => goCursor('')}>Newest</button>
      <button type="button" disabled=${!runs.data.next_cursor} onClick=${() => goCursor(runs.data.next_cursor, [...prev, cursor || '-'])}>Older →</button>
    </nav>`}
    <${Dialog} open=${Boolean(confirm)} title=${confirm ? `${{ cancel: 'Cancel', retry: 'Retry', delete: 'Delete' }[confirm.action]} ${confirm.runs.length} run${confirm.runs.length === 1 ? '' : 's'}?` : ''} onClose=${() => !working && setConfirm(null)}>
      ${confirm &&
      html`<p>
          ${confirm.action === 'cancel'
            ? 'Pending runs will not start; running attempts are told to stop. Cancelled runs end as stopped and are not retried.'
            : confirm.action === 'delete'
              ? 'The runs, their attempts and their files are removed for good.'
              : 'Each run goes back to pending with one more attempt allowed.'}
        </p>
        <div class="actions">
          <button type="button" onClick=${() => setConfirm(null)} disabled=${working}>Keep them</button>
          <button type="button" class=${confirm.action === 'retry' ? 'primary' : 'danger'} disabled=${working} onClick=${() => act(confirm.action, confirm.runs)}>
            ${working ? 'Working…' : { cancel: 'Cancel runs', retry: 'Retry runs', delete: 'Delete runs' }[confirm.action]}
          </button>
        </div>`}
    <//>
  </section>`;
}
