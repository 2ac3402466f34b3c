// Functions: the catalogue by category and action; run a function once with JSON
// arguments, or upload a CSV file to a CSV function (validation errors listed with
// their lines and columns; nothing is stored until the file is valid).
import { useEffect, useId, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Empty, ErrorMessage, Loading, notify } from '../components.js';
import { number } from '../format.js';
import { html } from '../html.js';
import { useDocumentTitle, useResource } from '../hooks.js';
import { LaunchDialog } from '../launch.js';
import { navigate } from '../router.js';
import { FunctionMetrics } from './function_metrics.js';
import { runHref } from './runs.js';

function isCsv(fn) {
  return fn.input === 'csv' || fn.expected_content === 'text/csv';
}

function Columns({ label, names }) {
  if (!names || names.length === 0) return null;
  return html`<div class="columns-row"><span class="muted small">${label}</span> ${names.map((n) => html`<code key=${n} class="col">${n}</code>`)}</div>`;
}

// The problems of a rejected CSV file, from the error's details, whatever their
// exact shape: a list of {line|row, column(s), message}, or one such object.
export function csvProblems(details) {
  if (!details || typeof details !== 'object') return [];
  const list = details.errors || details.problems || details.rows || details.issues;
  const items = Array.isArray(list) ? list : details.line || details.row || details.column ? [details] : [];
  return items.map((item) => {
    if (typeof item !== 'object' || item === null) return { line: '', column: '', message: String(item) };
    const columns = item.columns || item.fields;
    return {
      line: item.line ?? item.row ?? item.line_number ?? '',
      column: item.column ?? (Array.isArray(columns) ? columns.join(', ') : columns ?? ''),
      message: item.message || item.error || item.reason || '',
    };
  });
}

function CsvUpload({ fn }) {
  const inputId = useId();
  const [file, setFile] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const submit = async (event) => {
    event.preventDefault();
    if (!file || busy) return;
    setBusy(true);
    setError(null);
    try {
      const run = await api('/api/v1/runs', {
        method: 'POST',
        query: { function: fn.name },
        body: file,
        contentType: 'text/csv',
      });
      notify(`${file.name} accepted: run started.`);
      navigate(runHref(run));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const problems = error ? csvProblems(error.details) : [];
  return html`<form class="upload" onSubmit=${submit} aria-label=${`Upload a CSV file to ${fn.name}`}>
    <div class="field">
      <label for=${inputId}>CSV file</label>
      <input
        id=${inputId}
        type="file"
        name="csv"
        accept=".csv,text/csv"
        onChange=${(e) => {
          setFile(e.currentTarget.files[0] || null);
          setError(null);
        }}
      />
      <p class="field-hint">
        Needs the column${fn.mandatory.length === 1 ? '' : 's'} ${fn.mandatory.map((c, i) => html`${i ? ', ' : ''}<code>${c}</code>`)}${' '}in the header. The file is checked before anything is stored.
      </p>
    </div>
    <div class="actions left">
      <button type="submit" class="primary" disabled=${!file || busy}>${busy ? 'Uploading…' : 'Upload and run'}</button>
      ${file && html`<span class="small muted">${file.name}, ${number(file.size)} bytes</span>`}
    </div>
    ${error &&
    html`<div class="error csv-errors" role="alert">
      <strong>The file was not accepted; nothing was stored.</strong>
      ${problems.length > 0
        ? html`<p>${problems.length === 1 ? 'One problem' : `${number(problems.length)} problems`}, listed below by line.</p>`
        : html`<p>${error.message}</p>`}
      ${problems.length > 0 &&
      html`<table class="compact">
        <caption class="visually-hidden">Problems in the file</caption>
        <thead><tr><th scope="col">Line</th><th scope="col">Column</th><th scope="col">Problem</th></tr></thead>
        <tbody>
          ${problems.map(
            (p, i) => html`<tr key=${i}><td class="num">${p.line}</td><td>${p.column ? html`<code>${p.column}</code>` : ''}</td><td>${p.message}</td></tr>`,
          )}
        </tbody>
      </table>`}
      <p class="small">Fix the file and choose it again.</p>
    </div>`}
  </form>`;
}

function FunctionCard({ fn, onRun }) {
  const csv = isCsv(fn);
  return html`<article class="fn" id=${`fn-${fn.name}`} data-function=${fn.name} aria-labelledby=${`fn-title-${fn.name}`}>
    <div class="fn-head">
      <h3 id=${`fn-title-${fn.name}`}><code>${fn.name}</code></h3>
      <span class="tag">${csv ? 'CSV input' : fn.input === 'none' ? 'no input' : 'JSON args'}</span>
      ${fn.handler && html`<span class="tag tag-quiet">${fn.handler}</span>`}
    </div>
    ${fn.description && html`<p>${fn.description}</p>`}
    ${fn.doc && fn.doc !== fn.description && html`<p class="doc">${fn.doc}</p>`}
    <${Columns} label="Mandatory columns" names=${fn.mandatory} />
    <${Columns} label="Optional columns" names=${fn.optional} />
    <${Columns} label="Adds output columns" names=${fn.output_header} />
    <${FunctionMetrics} fn=${fn} />
    <div class="fn-actions">
      ${csv
        ? html`<details class="upload-box">
            <summary>Upload a CSV file…</summary>
            <${CsvUpload} fn=${fn} />
          </details>`
        : html`<button type="button" class="small" onClick=${() => onRun(fn)} aria-label=${`Run ${fn.name} once`}>Run once…</button>`}
      <a class="small" href=${`/runs?function=${encodeURIComponent(fn.name)}`}>Its runs</a>
    </div>
  </article>`;
}

export function Functions() {
  useDocumentTitle('Functions');
  const functions = useResource((signal) => api('/api/v1/functions', { signal }), []);
  const [running, setRunning] = useState(null);
  const list = (functions.data && functions.data.functions) || [];

  // Jump to /functions#fn-NAME once the catalogue is there.
  useEffect(() => {
    if (!functions.data || !window.location.hash) return;
    const el = document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
    if (el) el.scrollIntoView({ block: 'start' });
  }, [functions.data]);

  const categories = new Map();
  for (const fn of list) {
    const category = fn.category || fn.name.split('.')[0];
    if (!categories.has(category)) categories.set(category, []);
    categories.get(category).push(fn);
  }
  const sorted = [...categories.entries()].sort(([a], [b]) => a.localeCompare(b));

  return html`<section class="page">
    <div class="page-head">
      <h1 tabindex="-1">Functions</h1>
      <p class="muted">Everything this server can run, by category and action.</p>
    </div>
    ${functions.loading && !functions.data
      ? html`<${Loading}>Loading functions…<//>`
      : !functions.data
        ? html`<${ErrorMessage} error=${functions.error} what="the functions" onRetry=${functions.reload} />`
        : list.length === 0
          ? html`<${Empty}>No functions are registered on this server.<//>`
          : html`<nav class="toc" aria-label="Categories">
                ${sorted.map(([c, fns]) => html`<a key=${c} href=${`#cat-${c}`} onClick=${(e) => { e.preventDefault(); document.getElementById(`cat-${c}`).scrollIntoView(); }}>${c} <span class="muted">(${fns.length})</span></a>`)}
              </nav>
              ${sorted.map(
                ([category, fns]) => html`<section key=${category} class="category" id=${`cat-${category}`} aria-labelledby=${`cat-title-${category}`}>
                  <h2 id=${`cat-title-${category}`}>${category}</h2>
                  <div class="fn-grid">
                    ${fns
                      .sort((a, b) => a.name.localeCompare(b.name))
                      .map((fn) => html`<${FunctionCard} key=${fn.name} fn=${fn} onRun=${setRunning} />`)}
                  </div>
                </section>`,
              )}`}
    <${LaunchDialog}
      target=${running ? { fn: running } : null}
      onClose=${() => setRunning(null)}
      onStarted=${(run) => {
        setRunning(null);
        navigate(runHref(run));
      }}
    />
  </section>`;
}
