// Small building blocks shared by the pages.
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { STATUS_HELP, absoluteTime, relativeTime, statusLabel } from './format.js';

export function StatusBadge({ status }) {
  return html`<span class=${`status status-${status}`} title=${STATUS_HELP[status] || ''}
    >${statusLabel(status)}</span
  >`;
}

export function Time({ at, now }) {
  if (!at) return html`<span class="muted">—</span>`;
  return html`<time datetime=${at} title=${absoluteTime(at)}>${relativeTime(at, now)}</time>`;
}

export function Loading({ children = 'Loading…' }) {
  return html`<p class="loading" role="status"><span class="spinner" aria-hidden="true"></span>${children}</p>`;
}

// An error in words, with what to do about it.
export function ErrorMessage({ error, onRetry, what }) {
  if (!error) return null;
  let hint = '';
  if (error.status === 0) hint = 'Check that taskmill serve is running, then try again.';
  else if (error.status === 403) hint = 'Your token does not allow this.';
  else if (error.status >= 500) hint = 'The server had a problem; its log says more.';
  return html`<div class="error" role="alert">
    <strong>${what ? `Could not load ${what}.` : 'Something went wrong.'}</strong>
    <span> ${error.message}</span>
    ${hint && html`<span> ${hint}</span>`}
    ${onRetry && html` <button type="button" class="link" onClick=${() => onRetry()}>Try again</button>`}
  </div>`;
}

export function Empty({ children }) {
  return html`<div class="empty">${children}</div>`;
}

// A modal dialog on the native <dialog>: focus moves in, Escape closes it, focus
// returns to the control that opened it.
export function Dialog({ open, title, onClose, children, wide }) {
  const ref = useRef(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return html`<dialog
    ref=${ref}
    class=${wide ? 'wide' : ''}
    aria-labelledby=${titleId}
    onClose=${() => onClose && onClose()}
    onCancel=${(e) => {
      e.preventDefault();
      onClose && onClose();
    }}
  >
    ${open &&
    html`<div class="dialog-head">
        <h2 id=${titleId}>${title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick=${() => onClose && onClose()}>×</button>
      </div>
      ${children}`}
  </dialog>`;
}

// A JSON text field that says what is wrong before anything is sent.
// kind: 'args' (array or object) | 'object'.
export function parseJsonField(text, kind) {
  const trimmed = text.trim();
  if (trimmed === '') return { value: kind === 'object' ? {} : [], error: '' };
  let value;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    const where = /position (\d+)/.exec(error.message);
    let place = '';
    if (where) {
      const offset = Number(where[1]);
      const before = trimmed.slice(0, offset);
      const line = before.split('\n').length;
      const column = offset - before.lastIndexOf('\n');
      place = ` (line ${line}, column ${column})`;
    }
    return { value: undefined, error: `Not valid JSON${place}: ${error.message.replace(/^JSON\.parse: /, '')}` };
  }
  if (kind === 'object' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    return { value: undefined, error: 'Must be a JSON object, like {"key": "value"}.' };
  }
  if (kind === 'args' && (value === null || typeof value !== 'object')) {
    return { value: undefined, error: 'Must be a JSON array like ["a", 1] or an object like {"key": 1}.' };
  }
  return { value, error: '' };
}

export function JsonField({ label, value, onInput, kind = 'args', hint, rows = 5, name }) {
  const id = useId();
  const { error } = parseJsonField(value, kind);
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <textarea
      id=${id}
      name=${name}
      class="code"
      rows=${rows}
      spellcheck="false"
      aria-invalid=${error ? 'true' : 'false'}
      aria-describedby=${`${id}-msg`}
      value=${value}
      onInput=${(e) => onInput(e.currentTarget.value)}
    ></textarea>
    <p id=${`${id}-msg`} class=${error ? 'field-error' : 'field-hint'} aria-live="polite">
      ${error || hint || ''}
    </p>
  </div>`;
}

export function ProgressBar({ progress, label }) {
  const total = progress.total || 0;
  const ok = progress.succeeded || 0;
  const bad = progress.failed || 0;
  const done = ok + bad;
  const pct = (n) => (total > 0 ? Math.min(100, (n / total) * 100) : 0);
  return html`<div
    class="progress"
    role="progressbar"
    aria-label=${label || 'Rows processed'}
    aria-valuemin="0"
    aria-valuemax=${total || undefined}
    aria-valuenow=${done}
    aria-valuetext=${total ? `${done} of ${total} rows` : `${done} rows`}
  >
    <span class="progress-ok" style=${`width:${pct(ok)}%`}></span>
    <span class="progress-bad" style=${`width:${pct(bad)}%`}></span>
  </div>`;
}

// ---- notices ("Run started", "2 runs could not be cancelled") ---------------------

const noticeListeners = new Set();
let notices = [];
let nextNotice = 1;

export function notify(message, { kind = 'info', link, linkText, timeout = 7000 } = {}) {
  const id = nextNotice++;
  notices = [...notices, { id, message, kind, link, linkText }];
  for (const l of noticeListeners) l(notices);
  if (timeout) setTimeout(() => dismiss(id), timeout);
}

function dismiss(id) {
  notices = notices.filter((n) => n.id !== id);
  for (const l of noticeListeners) l(notices);
}

export function Notices() {
  const [list, setList] = useState(notices);
  useEffect(() => {
    noticeListeners.add(setList);
    setList(notices);
    return () => noticeListeners.delete(setList);
  }, []);
  return html`<div class="notices" aria-live="polite">
    ${list.map(
      (n) => html`<div key=${n.id} class=${`notice notice-${n.kind}`} role=${n.kind === 'error' ? 'alert' : 'status'}>
        <span>${n.message}</span>
        ${n.link && html` <a href=${n.link}>${n.linkText || 'Open'}</a>`}
        <button type="button" class="icon" aria-label="Dismiss" onClick=${() => dismiss(n.id)}>×</button>
      </div>`,
    )}
  </div>`;
}

// A definition list of label → value pairs, skipping empty values.
export function Facts({ items }) {
  return html`<dl class="facts">
    ${items
      .filter(([, value]) => value !== undefined && value !== null && value !== '' && value !== false)
      .map(([label, value]) => html`<div key=${label}><dt>${label}</dt><dd>${value}</dd></div>`)}
  </dl>`;
}
