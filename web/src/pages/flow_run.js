// One run of a flow: its graph (steps with state, attempts and children), outcome and
// state, followed live; cancel the flow, retry a failed step.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, capabilities, retryFlowStep, runPath } from '../api.js';
import { Dialog, ErrorMessage, Facts, Loading, ProgressBar, StatusBadge, Time, notify } from '../components.js';
import { absoluteTime, isLive, json } from '../format.js';
import { FlowGraph, childrenText } from '../flow_graph.js';
import { html } from '../html.js';
import { useDocumentTitle, useLive, useNow, useResource, useThrottled } from '../hooks.js';
import { eventRunId } from '../live.js';
import { navigate } from '../router.js';

// While a flow is live, refetch this often even if no event came (a dropped stream,
// a server without one): the events make it prompt, this makes it certain.
const FALLBACK_MS = 5000;
// Events come in bursts (a step's children); one refetch per 250 ms is enough.
const REFRESH_MS = 250;

const runHref = (id) => `/runs/${encodeURIComponent(id)}`;
const childrenHref = (stepRunId) => `/runs?parent_id=${encodeURIComponent(stepRunId)}`;

// Whether an event concerns the flow whose root is `root`: a flow event names it, a
// run event is about the root, one of its steps (ROOT:STEP) or their children
// (ROOT:STEP:CHILD) — the ids the flow gives them (docs/flows.md).
export function ofFlow(event, root) {
  const d = event.data && typeof event.data === 'object' ? event.data : {};
  if (event.type.startsWith('flow.')) return d.flow_id === root;
  if (!event.type.startsWith('run.')) return false;
  const id = eventRunId(event);
  return id === root || id.startsWith(`${root}:`);
}

function Outcome({ graph }) {
  const result = graph.result && typeof graph.result === 'object' ? graph.result : null;
  if (isLive(graph.status)) return html`<p data-outcome="live">The flow is running.</p>`;
  if (result && result.outcome === 'all_over') {
    return html`<p data-outcome="all_over"><strong>all_over</strong>: every step is over.</p>`;
  }
  if (result && result.outcome === 'failed_over') {
    return html`<div data-outcome="failed_over">
      <p>
        <strong>failed_over</strong> at step <strong data-outcome-step>${result.step}</strong>${result.attempts ? ` after ${result.attempts} attempt${result.attempts === 1 ? '' : 's'}` : ''}${result.error_kind ? html` <span class="tag">${result.error_kind}</span>` : ''}
      </p>
      ${result.error && html`<pre class="error-text">${result.error}</pre>`}
      ${result.run_id && html`<p><a href=${runHref(result.run_id)}>Open the run that failed</a></p>`}
    </div>`;
  }
  if (graph.status === 'stopped') return html`<p data-outcome="stopped"><strong>stopped</strong>: the flow was cancelled; what was left of it was stopped.</p>`;
  return html`<p data-outcome=${graph.status}>Ended <strong>${graph.status}</strong>${graph.error ? `: ${graph.error}` : ''}.</p>`;
}

function StepsTable({ graph, busy, onRetry }) {
  return html`<table class="table responsive flow-steps-table">
    <thead>
      <tr>
        <th scope="col">Step</th>
        <th scope="col">State</th>
        <th scope="col">Attempts</th>
        <th scope="col">Children</th>
        <th scope="col">Run</th>
        <th scope="col"><span class="visually-hidden">Actions</span></th>
      </tr>
    </thead>
    <tbody>
      ${graph.steps.map((s) => {
        const c = s.children || { total: 0, done: 0, failed: 0 };
        const hasChildren = Boolean(s.child_func) || c.total > 0;
        return html`<tr key=${s.name} data-step-row=${s.name}>
          <th scope="row" data-label="Step"><strong>${s.name}</strong> <span class="small muted"><code>${s.func_name}</code></span></th>
          <td data-label="State"><${StatusBadge} status=${s.state} /></td>
          <td data-label="Attempts">${s.attempts} of ${s.max_attempts}</td>
          <td data-label="Children">
            ${hasChildren
              ? html`<div class="flow-children-cell">
                  <${ProgressBar} progress=${{ total: c.total, succeeded: c.done, failed: c.failed }} label=${`Children of step ${s.name}`} />
                  <span class="small">${childrenText(c)}</span>
                  ${s.run_id && c.total > 0 && html`<a class="small" href=${childrenHref(s.run_id)}>list the children</a>`}
                </div>`
              : html`<span class="muted">—</span>`}
          </td>
          <td data-label="Run">
            <div>
              ${s.run_id ? html`<a href=${runHref(s.run_id)} title=${s.run_id}>open the step's run</a>` : html`<span class="muted">not started</span>`}
              ${s.error && html`<div class="small flow-step-error" title=${s.error}>${s.error}</div>`}
            </div>
          </td>
          <td class="row-actions">
            ${s.state === 'failed' && s.run_id &&
            html`<button type="button" class="small" disabled=${Boolean(busy)} onClick=${() => onRetry(s)} aria-label=${`Retry step ${s.name}`}>
              ${busy === s.name ? 'Retrying…' : 'Retry step'}
            </button>`}
          </td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

export function FlowRun({ id }) {
  useDocumentTitle(`Flow run ${id}`);
  const now = useNow(1000);
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(''); // 'cancel' or the name of the step being retried
  const available = capabilities.has('GET', '/api/v1/flows/runs/{}');
  const graph = useResource(
    (signal) => (available ? api(`/api/v1/flows/runs/${encodeURIComponent(id)}`, { signal }) : Promise.resolve(null)),
    [id],
  );
  // The definitions say which steps add children (child_func), so that a step shows
  // its bar before its first child exists.
  const defs = useResource((signal) => (available ? api('/api/v1/flows', { signal }) : Promise.resolve(null)), []);
  const refresh = useThrottled(() => graph.reload({ quiet: true }), REFRESH_MS);

  const g = graph.data;
  // Live while the root runs, and while a step retried after the end runs again.
  const live = Boolean(g) && (isLive(g.status) || g.steps.some((s) => isLive(s.state)));
  useLive((event) => {
    if (event.type === 'overflow' || (event.type === 'tick' && (live || !g)) || ofFlow(event, id)) refresh();
  });
  useEffect(() => {
    if (!live) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState !== 'hidden') refresh();
    }, FALLBACK_MS);
    return () => clearInterval(timer);
  }, [live, refresh]);

  const cancel = async () => {
    setBusy('cancel');
    try {
      await api(runPath(id, '/cancel'), { method: 'POST' });
      notify('Flow cancelled: its live steps and children are stopped.');
      await graph.reload({ quiet: true });
    } catch (error) {
      notify(`Could not cancel the flow: ${error.message}`, { kind: 'error', timeout: 12000 });
    } finally {
      setBusy('');
      setConfirm(false);
    }
  };
  const retry = async (step) => {
    setBusy(step.name);
    try {
      await retryFlowStep(id, step);
      notify(`Step ${step.name} queued again with one more attempt.`);
      await graph.reload({ quiet: true });
    } catch (error) {
      notify(`Could not retry step ${step.name}: ${error.message}`, { kind: 'error', timeout: 12000 });
    } finally {
      setBusy('');
    }
  };

  if (!available) {
    return html`<section class="page"><h1 tabindex="-1">Flow run</h1><p class="not-available">Flows are not available from this server yet.</p></section>`;
  }
  if (graph.loading && !g) return html`<section class="page"><h1 tabindex="-1">Flow run</h1><${Loading}>Loading the flow…<//></section>`;
  if (!g) {
    const missing = graph.error instanceof ApiError && graph.error.status === 404;
    return html`<section class="page">
      <h1 tabindex="-1">Flow run not found</h1>
      ${missing
        ? html`<p>${graph.error.message}.</p>
            <p><a href="/flows">Back to the flows</a> · <a href=${runHref(id)}>Open run <code>${id}</code></a></p>`
        : html`<${ErrorMessage} error=${graph.error} what="the flow" onRetry=${graph.reload} />`}
    </section>`;
  }

  const def = defs.data && (defs.data.flows || []).find((f) => f.name === g.flow);
  const childFunc = new Map(def ? def.steps.map((s) => [s.name, s.child_func]) : []);
  const withDefs = { ...g, steps: g.steps.map((s) => ({ ...s, child_func: childFunc.get(s.name) || '' })) };
  return html`<section class="page">
    <div class="page-head run-head">
      <div>
        <p class="crumbs"><a href="/flows">Flows</a> /</p>
        <h1 tabindex="-1">Flow ${g.flow} <span data-flow-status=${g.status}><${StatusBadge} status=${g.status} /></span></h1>
        <p class="muted run-id"><span class="visually-hidden">Root run id </span><code>${g.run_id}</code></p>
      </div>
      <div class="actions">
        ${isLive(g.status) &&
        html`<button type="button" class="danger" disabled=${Boolean(busy)} onClick=${() => setConfirm(true)}>Cancel flow</button>`}
        <a class="button" href=${runHref(g.run_id)}>Open the root run</a>
      </div>
    </div>
    ${graph.error && html`<${ErrorMessage} error=${graph.error} what="fresh data for this flow" />`}

    <section class="panel" aria-labelledby="graph-title">
      <h2 id="graph-title">Steps</h2>
      <${FlowGraph} graph=${withDefs} onOpen=${(s) => navigate(runHref(s.run_id))} />
    </section>

    <section class="panel" aria-labelledby="outcome-title">
      <h2 id="outcome-title">Outcome</h2>
      <${Outcome} graph=${g} />
      <${Facts}
        items=${[
          ['Created', html`<${Time} at=${g.created_at} now=${now} /> <span class="muted small">${absoluteTime(g.created_at)}</span>`],
          ['Finished', g.finished_at && html`<${Time} at=${g.finished_at} now=${now} /> <span class="muted small">${absoluteTime(g.finished_at)}</span>`],
          ['Entrance', html`<code>${g.entrance}</code>`],
          ['All its runs', html`<a href=${`/runs?flow_id=${encodeURIComponent(g.run_id)}`}>list them</a>`],
        ]}
      />
    </section>

    <section class="panel" aria-labelledby="step-list-title">
      <h2 id="step-list-title">Step runs</h2>
      <${StepsTable} graph=${withDefs} busy=${busy} onRetry=${retry} />
    </section>

    <div class="grid-2">
      <section class="panel" aria-labelledby="state-title">
        <h2 id="state-title">State</h2>
        <pre class="code-block" data-flow-state>${json(g.state ?? {})}</pre>
      </section>
      <section class="panel" aria-labelledby="args-title">
        <h2 id="args-title">Arguments</h2>
        <pre class="code-block">${json(g.args ?? null)}</pre>
      </section>
    </div>

    <${Dialog} open=${confirm} title="Cancel this flow?" onClose=${() => !busy && setConfirm(false)}>
      ${confirm &&
      html`<p>The flow ends as stopped: its running steps and children are told to stop, the steps not started yet never start.</p>
        <div class="actions">
          <button type="button" onClick=${() => setConfirm(false)} disabled=${Boolean(busy)}>Keep it</button>
          <button type="button" class="danger" disabled=${Boolean(busy)} onClick=${cancel}>${busy ? 'Working…' : 'Cancel flow'}</button>
        </div>`}
    <//>
  </section>`;
}
