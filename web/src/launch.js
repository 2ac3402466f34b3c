// The dialog that starts a task now, or runs a function once, with arguments
// typed as JSON and checked before anything is sent.
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { Dialog, JsonField, parseJsonField } from './components.js';
import { html } from './html.js';

// target: {task: TaskJson} or {fn: FunctionJson}
export function LaunchDialog({ target, onClose, onStarted }) {
  const open = Boolean(target);
  const name = target ? (target.task ? target.task.name : target.fn.name) : '';
  return html`<${Dialog}
    open=${open}
    title=${target ? (target.task ? `Start task ${name}` : `Run ${name}`) : ''}
    onClose=${onClose}
  >
    ${open && html`<${LaunchForm} key=${name} target=${target} onClose=${onClose} onStarted=${onStarted} />`}
  <//>`;
}

function LaunchForm({ target, onClose, onStarted }) {
  const initialArgs = target.task ? target.task.args ?? [] : [];
  const [args, setArgs] = useState(JSON.stringify(initialArgs, null, 2));
  const [data, setData] = useState('');
  const [delay, setDelay] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const parsedArgs = parseJsonField(args, 'args');
  const parsedData = parseJsonField(data, 'object');
  const delayNumber = delay.trim() === '' ? null : Number(delay);
  const delayError =
    delayNumber !== null && (!Number.isFinite(delayNumber) || delayNumber < 0)
      ? 'A number of seconds, 0 or more.'
      : '';
  const invalid = Boolean(parsedArgs.error || parsedData.error || delayError);

  const submit = async (event) => {
    event.preventDefault();
    if (invalid || busy) return;
    setBusy(true);
    setError(null);
    const body = { args: parsedArgs.value };
    if (data.trim()) body.data = parsedData.value;
    if (delayNumber) body.delay = delayNumber;
    try {
      let run;
      if (target.task) {
        run = await api(`/api/v1/tasks/${encodeURIComponent(target.task.name)}/start`, { method: 'POST', body });
      } else {
        run = await api('/api/v1/runs', { method: 'POST', body: { function: target.fn.name, ...body } });
      }
      onStarted(run);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return html`<form onSubmit=${submit} novalidate>
    <${JsonField}
      label="Arguments (JSON)"
      name="args"
      value=${args}
      onInput=${setArgs}
      hint=${target.task ? "Prefilled with the task's arguments. An array or an object." : 'An array like [600] or an object.'}
    />
    <details class="more">
      <summary>More options</summary>
      <${JsonField} label="Data (JSON object, optional)" name="data" kind="object" rows=${3} value=${data} onInput=${setData} />
      <div class="field">
        <label for="launch-delay">Start after (seconds)</label>
        <input
          id="launch-delay"
          name="delay"
          type="number"
          min="0"
          step="any"
          inputmode="decimal"
          value=${delay}
          aria-invalid=${delayError ? 'true' : 'false'}
          aria-describedby="launch-delay-msg"
          onInput=${(e) => setDelay(e.currentTarget.value)}
        />
        <p id="launch-delay-msg" class=${delayError ? 'field-error' : 'field-hint'}>${delayError || 'Empty: start as soon as a runner is free.'}</p>
      </div>
    </details>
    ${error &&
    html`<div class="error" role="alert">
      <strong>Not started.</strong> ${error.message}
    </div>`}
    <div class="actions">
      <button type="button" onClick=${onClose}>Close</button>
      <button type="submit" class="primary" disabled=${invalid || busy}>${busy ? 'Starting…' : target.task ? 'Start now' : 'Run now'}</button>
    </div>
  </form>`;
}
