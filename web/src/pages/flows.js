// Flows: every flow definition (entrance, steps, queue) with its recent runs, and a
// Start form per flow (args as JSON, checked before anything is sent).
import { useState } from 'preact/hooks';
import { api, capabilities, startFlow } from '../api.js';
import { Dialog, Empty, ErrorMessage, JsonField, Loading, StatusBadge, Time, parseJsonField } from '../components.js';
import { shortId } from '../format.js';
import { html } from '../html.js';
import { useDocumentTitle, useLive, useNow, useResource, useThrottled } from '../hooks.js';
import { isResync } from '../live.js';
import { navigate } from '../router.js';

export const flowRunHref = (id) => `/flows/runs/${encodeURIComponent(id)}`;

function Steps({ flow }) {
  return html`<ol class="flow-steps">
    ${flow.steps.map(
      (s) => html`<li key=${s.name}>
        <strong>${s.name}</strong>${s.name === flow.entrance ? html` <span class="tag tag-quiet">entrance</span>` : ''}
        <span class="muted small"> <code>${s.func_name}</code>${s.child_func ? html`, children <code>${s.child_func}</code>${s.max_concurrency ? ` (≤ ${s.max_concurrency} at once)` : ''}` : ''}</span>
        ${s.next && s.next.length > 0 ? html`<span class="muted small"> → ${s.next.join(', ')}</span>` : ''}
      </li>`,
    )}
  </ol>`;
}

function RecentRuns({ flow, now }) {
  const runs = flow.recent_runs || [];
  if (runs.length === 0) return html`<p class="muted small">No run yet.</p>`;
  return html`<ul class="flow-recent">
    ${runs.map(
      (r) => html`<li key=${r.run_id} data-flow-run=${r.run_id}>
        <${StatusBadge} status=${r.status} />
        <a href=${flowRunHref(r.run_id)} title=${r.run_id}><code>${shortId(r.run_id)}</code></a>
        <span class="small">created <${Time} at=${r.created_at} now=${now} /></span>
        ${r.finished_at ? html`<span class="small">, finished <${Time} at=${r.finished_at} now=${now} /></span>` : ''}
        ${r.error ? html`<div class="small flow-recent-error" title=${r.error}>${r.error}</div>` : ''}
      </li>`,
    )}
  </ul>`;
}

function StartForm({ flow, onClose }) {
  const [args, setArgs] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  // Any JSON value: a flow's args are handed to its steps as they are.
  const parsed = args.trim() === '' ? { value: undefined, error: '' } : parseJsonField(args, 'any');
  const submit = async (event) => {
    event.preventDefault();
    if (parsed.error || busy) return;
    setBusy(true);
    setError(null);
    try {
      const root = await startFlow(flow.name, parsed.value);
      onClose();
      navigate(flowRunHref(root.id));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html`<form onSubmit=${submit} novalidate>
    <${JsonField}
      label="Arguments (JSON, optional)"
      name="args"
      kind="any"
      value=${args}
      onInput=${setArgs}
      hint='Any JSON value, handed to every step as "args"; empty: none.'
    />
    ${error &&
    html`<div class="error" role="alert">
      <strong>Not started.</strong> ${error.message}
    </div>`}
    <div class="actions">
      <button type="button" onClick=${onClose}>Close</button>
      <button type="submit" class="primary" disabled=${Boolean(parsed.error) || busy}>${busy ? 'Starting…' : 'Start flow'}</button>
    </div>
  </form>`;
}

export function Flows() {
  useDocumentTitle('Flows');
  const now = useNow(5000);
  const available = capabilities.has('GET', '/api/v1/flows');
  const flows = useResource((signal) => (available ? api('/api/v1/flows', { signal }) : Promise.resolve(null)), []);
  const refresh = useThrottled(() => flows.reload({ quiet: true }), 1000);
  useLive((event) => {
    // A flow started or ended: its recent runs changed.
    if (isResync(event) || event.type === 'flow.start' || event.type === 'flow.over') refresh();
  });
  const [starting, setStarting] = useState(null);

  const list = (flows.data && flows.data.flows) || [];
  return html`<section class="page">
    <div class="page-head">
      <h1 tabindex="-1">Flows</h1>
      <p class="muted">Flows are graphs of steps defined in the configuration (<code>flows:</code>). Each run of a flow is stored, step by step.</p>
    </div>
    ${!available
      ? html`<p class="not-available">Flows are not available from this server yet.</p>`
      : flows.loading && !flows.data
        ? html`<${Loading}>Loading flows…<//>`
        : !flows.data
          ? html`<${ErrorMessage} error=${flows.error} what="the flows" onRetry=${flows.reload} />`
          : list.length === 0
            ? html`<${Empty}>
                <p><strong>No flows are defined.</strong></p>
                <p>Add flows under <code>flows:</code> in the configuration file and restart the server.</p>
              <//>`
            : html`${flows.error && html`<${ErrorMessage} error=${flows.error} what="fresh flow data" />`}
                <table class="table responsive flows-table">
                  <thead>
                    <tr>
                      <th scope="col">Flow</th>
                      <th scope="col">Steps</th>
                      <th scope="col">Recent runs</th>
                      <th scope="col"><span class="visually-hidden">Actions</span></th>
                    </tr>
                  </thead>
                  <tbody>
                    ${list.map(
                      (flow) => html`<tr key=${flow.name} data-flow=${flow.name}>
                        <th scope="row" data-label="Flow">
                          <div>
                            <strong>${flow.name}</strong>
                            <div class="small muted">entrance <code>${flow.entrance}</code></div>
                            <div class="small muted">queue <code>${flow.queue}</code></div>
                          </div>
                        </th>
                        <td data-label="Steps"><${Steps} flow=${flow} /></td>
                        <td data-label="Recent runs"><${RecentRuns} flow=${flow} now=${now} /></td>
                        <td class="row-actions">
                          <button type="button" class="primary small" onClick=${() => setStarting(flow)} aria-label=${`Start flow ${flow.name}`}>Start…</button>
                        </td>
                      </tr>`,
                    )}
                  </tbody>
                </table>`}
    <${Dialog} open=${Boolean(starting)} title=${starting ? `Start flow ${starting.name}` : ''} onClose=${() => setStarting(null)}>
      ${starting && html`<${StartForm} key=${starting.name} flow=${starting} onClose=${() => setStarting(null)} />`}
    <//>
  </section>`;
}
