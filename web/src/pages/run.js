// Run detail: args and data, attempts with their output, result, error, progress of
// bulk runs, CSV downloads, and cancel / retry / delete.
import { useRef, useState } from 'preact/hooks';
import { ApiError, api, capabilities, downloadWithToken, getToken } from '../api.js';
import { Dialog, ErrorMessage, Facts, Loading, ProgressBar, StatusBadge, Time, notify } from '../components.js';
import { FINAL_STATUSES, absoluteTime, between, duration, isLive, json, number, runTiming } from '../format.js';
import { html } from '../html.js';
import { useDocumentTitle, useLive, useNow, useResource, useThrottled } from '../hooks.js';
import { eventRunId } from '../live.js';
import { navigate, queryParams, useLocation } from '../router.js';
import { RunTimeline } from './run_timeline.js';

function runUrl(id, queue, suffix = '') {
  const q = queue ? `?queue=${encodeURIComponent(queue)}` : '';
  return `/api/v1/runs/${encodeURIComponent(id)}${suffix}${q}`;
}

function Download({ run, which }) {
  const url = runUrl(run.id, run.queue !== 'default' ? run.queue : '', `/${which}.csv`);
  const filename = `${run.id}-${which}.csv`;
  const label = which === 'input' ? 'Download input CSV' : 'Download output CSV';
  if (!getToken()) {
    return html`<a class="button" href=${url} download=${filename}>${label}</a>`;
  }
  return html`<button
    type="button"
    onClick=${() => downloadWithToken(url, filename).catch((e) => notify(`Download failed: ${e.message}`, { kind: 'error' }))}
  >
    ${label}
  </button>`;
}

function Attempts({ run, now }) {
  const attempts = [...(run.attempts || [])];
  // The attempt in progress may not be in the stored log yet: show it from the run.
  if (run.status === 'running' && run.attempt && !attempts.some((a) => a.number === run.attempt)) {
    attempts.push({ number: run.attempt, runner: run.runner, started_at: run.started_at, outcome: 'running' });
  }
  if (attempts.length === 0) {
    return html`<p class="muted">
      ${run.status === 'pending' ? 'No attempt yet: the run waits for its time or for a free runner.' : 'This run has no recorded attempt.'}
    </p>`;
  }
  return html`<ol class="timeline">
    ${attempts.reverse().map((a) => {
      const took = between(a.started_at, a.finished_at, now);
      const outcome = a.outcome || (a.finished_at ? 'unknown' : 'running');
      return html`<li key=${a.number} class=${`attempt attempt-${outcome}`}>
        <div class="attempt-head">
          <strong>Attempt ${a.number}</strong>
          <${StatusBadge} status=${outcome} />
          ${a.runner && html`<span class="small muted">on <code>${a.runner}</code></span>`}
        </div>
        <div class="small">
          ${a.started_at ? html`started <time datetime=${a.started_at} title=${a.started_at}>${absoluteTime(a.started_at)}</time>` : 'not started'}
          ${a.finished_at ? html`, ended after ${duration(took)}` : a.started_at ? html`, running for ${duration(took)}` : ''}
        </div>
        ${a.error && html`<pre class="error-text">${a.error}</pre>`}
        ${a.output
          ? html`<details class="output">
              <summary>Output (${number(a.output.length)} characters)</summary>
              <pre>${a.output}</pre>
            </details>`
          : ''}
      </li>`;
    })}
  </ol>`;
}

function Progress({ run, now }) {
  const p = run.progress || { total: 0, succeeded: 0, failed: 0 };
  const done = (p.succeeded || 0) + (p.failed || 0);
  if (!p.total && !done && !run.input_file) return null;
  const elapsed = run.started_at ? between(run.started_at, run.finished_at, now) : null;
  const rate = elapsed && elapsed > 0 ? done / elapsed : null;
  return html`<section class="panel" aria-labelledby="progress-title">
    <h2 id="progress-title">Progress</h2>
    <${ProgressBar} progress=${p} />
    <p class="progress-text">
      <span><strong>${number(done)}</strong>${p.total ? ` of ${number(p.total)}` : ''} rows</span>
      <span class="ok">${number(p.succeeded || 0)} succeeded</span>
      <span class="bad">${number(p.failed || 0)} failed</span>
      ${rate !== null && done > 0 && html`<span>${rate >= 100 ? number(Math.round(rate)) : rate.toFixed(1)} rows/s</span>`}
    </p>
  </section>`;
}

function retryPolicy(r) {
  const attempts = r.max_attempts || 1;
  if (attempts <= 1) return '1 attempt, no retry';
  const delay = r.delay || 0;
  const factor = r.delay_factor ?? 1;
  let text = `${attempts} attempts, `;
  if (delay === 0) text += 'retried at once';
  else text += `retry after ${duration(delay)}${factor !== 1 ? `, ×${factor} each time` : ''}`;
  if (r.max_delay) text += `, at most ${duration(r.max_delay)}`;
  return text;
}

export function RunDetail({ id }) {
  useDocumentTitle(`Run ${id}`);
  const { search } = useLocation();
  const queue = queryParams(search).queue || '';
  const now = useNow(1000);
  const [confirm, setConfirm] = useState(null); // 'cancel' | 'delete'
  const [busy, setBusy] = useState('');
  const deleted = useRef(false);

  const run = useResource((signal) => api(runUrl(id, queue), { signal }), [id, queue]);
  const refresh = useThrottled(() => {
    if (!deleted.current) run.reload({ quiet: true });
  }, 500);
  // Follows the run until its final status: its own events (status, progress), a tick
  // while it is not final, and an overflow (events were dropped, one may be its own).
  useLive((event) => {
    const r = run.data;
    if (event.type === 'tick') {
      if (!r || !FINAL_STATUSES.has(r.status)) refresh();
    } else if (event.type === 'overflow') {
      refresh();
    } else if (event.type.startsWith('run.') && eventRunId(event) === id) {
      refresh();
    }
  });

  const act = async (action) => {
    setBusy(action);
    try {
      if (action === 'delete') {
        // Stop following before the request leaves: a live refresh sent while the
        // DELETE is on its way would ask for a run that no longer exists.
        deleted.current = true;
        try {
          await api(runUrl(id, queue), { method: 'DELETE' });
        } catch (error) {
          deleted.current = false;
          throw error;
        }
        notify(`Run ${id} deleted.`);
        navigate('/runs');
        return;
      }
      await api(runUrl(id, queue, `/${action}`), { method: 'POST' });
      notify({ cancel: 'Run cancelled.', retry: 'Run queued again with one more attempt.', 'run-now': 'Run made due now: a runner takes it next.' }[action]);
      await run.reload({ quiet: true });
    } catch (error) {
      notify(`Could not ${action} the run: ${error.message}`, { kind: 'error', timeout: 12000 });
    } finally {
      setBusy('');
      setConfirm(null);
    }
  };

  if (run.loading && !run.data) return html`<section class="page"><h1 tabindex="-1">Run</h1><${Loading}>Loading the run…<//></section>`;
  if (!run.data) {
    const missing = run.error instanceof ApiError && run.error.status === 404;
    return html`<section class="page">
      <h1 tabindex="-1">Run not found</h1>
      ${missing
        ? html`<p>There is no run <code>${id}</code>${queue ? ` in queue ${queue}` : ''}. It may have been deleted or pruned by retention.</p>
            <p><a href="/runs">Back to the runs</a></p>`
        : html`<${ErrorMessage} error=${run.error} what="the run" onRetry=${run.reload} />`}
    </section>`;
  }

  const r = run.data;
  const live = isLive(r.status);
  const final = FINAL_STATUSES.has(r.status);
  // A run waiting for its retry shows the failed attempt's real duration and when the
  // next attempt is due, not a clock running since that attempt started.
  const timing = runTiming(r, now);
  const took = timing.took;
  const policy = retryPolicy(r);
  return html`<section class="page">
    <div class="page-head run-head">
      <div>
        <p class="crumbs"><a href="/runs">Runs</a> /</p>
        <h1 tabindex="-1">
          ${r.task ? html`Task ${r.task}` : html`<code>${r.function}</code>`}
          <${StatusBadge} status=${r.status} />
        </h1>
        <p class="muted run-id"><span class="visually-hidden">Run id </span><code>${r.id}</code>${r.queue !== 'default' ? ` in queue ${r.queue}` : ''}</p>
      </div>
      <div class="actions">
        ${live && html`<button type="button" class="danger" disabled=${Boolean(busy)} onClick=${() => setConfirm('cancel')}>Cancel run</button>`}
        ${r.status === 'pending' && Date.parse(r.run_at) > now && capabilities.has('POST', '/api/v1/runs/{id}/run-now') &&
        html`<button type="button" class="primary" data-run-now disabled=${Boolean(busy)} onClick=${() => act('run-now')}>${busy === 'run-now' ? 'Starting…' : 'Run now'}</button>`}
        ${final && html`<button type="button" disabled=${Boolean(busy)} onClick=${() => act('retry')}>${busy === 'retry' ? 'Retrying…' : 'Retry'}</button>`}
        ${r.flow_id && html`<a class="button" href=${`/flows/runs/${encodeURIComponent(r.flow_id)}`} data-open-flow>Open flow</a>`}
        ${r.status !== 'running' && html`<button type="button" class="danger-outline" disabled=${Boolean(busy)} onClick=${() => setConfirm('delete')}>Delete</button>`}
      </div>
    </div>
    ${run.error && html`<${ErrorMessage} error=${run.error} what="fresh data for this run" />`}

    ${r.error &&
    html`<section class="panel panel-error" aria-labelledby="error-title">
      <h2 id="error-title">Error${r.error_kind ? html` <span class="tag">${r.error_kind}</span>` : ''}</h2>
      <pre class="error-text">${r.error}</pre>
    </section>`}

    <${Progress} run=${r} now=${now} />

    <div class="grid-2">
      <section class="panel" aria-labelledby="summary-title">
        <h2 id="summary-title">Summary</h2>
        <${Facts}
          items=${[
            ['Function', html`<a href=${`/functions#fn-${r.function}`}><code>${r.function}</code></a>`],
            ['Task', r.task && html`<a href=${`/runs?task=${encodeURIComponent(r.task)}`}>${r.task}</a>`],
            ['Created', html`<${Time} at=${r.created_at} now=${now} /> <span class="muted small">${absoluteTime(r.created_at)}</span>`],
            ['Scheduled for', r.scheduled_at && absoluteTime(r.scheduled_at)],
            ['Starts', r.status === 'pending' && r.run_at && html`<${Time} at=${r.run_at} now=${now} />`],
            ['Started', r.started_at && html`<${Time} at=${r.started_at} now=${now} />`],
            ['Finished', r.finished_at && html`<${Time} at=${r.finished_at} now=${now} />`],
            ['Duration', took !== null && `${duration(took)}${r.status === 'running' ? ' so far' : timing.kind === 'retrying' ? ` (attempt ${r.attempt})` : ''}`],
            ['Next attempt', timing.kind === 'retrying' && html`<span data-retry>${timing.wait}</span>`],
            ['Attempt', `${r.attempt || 0} of ${r.max_attempts || 1}`],
            ['Runner', r.runner && html`<code>${r.runner}</code>`],
            ['Lease until', r.lease_until && html`<${Time} at=${r.lease_until} now=${now} />`],
            ['Retries', policy],
            ['Timeout', r.timeout ? duration(r.timeout) : 'none'],
            ['Time to resolve', r.time_to_resolve && duration(r.time_to_resolve)],
            ['Priority', r.priority ? String(r.priority) : ''],
            ['Account', r.account_id && html`<code>${r.account_id}</code>`],
            ['Created by', r.auth_account_id && r.auth_account_id !== r.account_id && html`<code>${r.auth_account_id}</code>`],
            ['Parent run', r.parent_id && html`<a href=${`/runs/${encodeURIComponent(r.parent_id)}`}><code>${r.parent_id}</code></a>`],
            ['Flow', r.flow_id && html`<a href=${`/flows/runs/${encodeURIComponent(r.flow_id)}`}><code>${r.flow_id}</code></a>`],
          ]}
        />
      </section>
      <section class="panel" aria-labelledby="io-title">
        <h2 id="io-title">Arguments and data</h2>
        <h3>Args</h3>
        <pre class="code-block">${json(r.args)}</pre>
        ${r.data && Object.keys(r.data).length > 0 && html`<h3>Data</h3><pre class="code-block">${json(r.data)}</pre>`}
        <h3>Result</h3>
        ${r.result !== null && r.result !== undefined
          ? html`<pre class="code-block">${json(r.result)}</pre>`
          : html`<p class="muted">${final ? 'No result.' : 'Not finished yet.'}</p>`}
        ${(r.input_file || r.output_file) &&
        html`<h3>Files</h3>
          <div class="actions left">
            ${r.input_file && html`<${Download} run=${r} which="input" />`}
            ${r.output_file && html`<${Download} run=${r} which="output" />`}
          </div>`}
      </section>
    </div>

    <section class="panel" aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      <${RunTimeline} run=${r} now=${now} />
    </section>

    <section class="panel" aria-labelledby="attempts-title">
      <h2 id="attempts-title">Attempts</h2>
      <${Attempts} run=${r} now=${now} />
    </section>

    <${Dialog} open=${Boolean(confirm)} title=${confirm === 'delete' ? 'Delete this run?' : 'Cancel this run?'} onClose=${() => !busy && setConfirm(null)}>
      ${confirm &&
      html`<p>
          ${confirm === 'delete'
            ? 'The run, its attempts and its files are removed for good.'
            : r.status === 'running'
              ? 'The running attempt is told to stop (a command is killed). The run ends as stopped and is not retried.'
              : 'The run will not start. It ends as stopped.'}
        </p>
        <div class="actions">
          <button type="button" onClick=${() => setConfirm(null)} disabled=${Boolean(busy)}>Keep it</button>
          <button type="button" class="danger" disabled=${Boolean(busy)} onClick=${() => act(confirm)}>
            ${busy ? 'Working…' : confirm === 'delete' ? 'Delete run' : 'Cancel run'}
          </button>
        </div>`}
    <//>
  </section>`;
}
