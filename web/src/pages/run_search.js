// The runs page's search box: a run id, or text of a run's args, data or error. The
// server answers an id at once and looks for text among the most recent runs only
// (GET /api/v1/runs?q=, docs/ui.md); the page says which it did.
import { useEffect, useState } from 'preact/hooks';
import { capabilities } from '../api.js';
import { number } from '../format.js';
import { html } from '../html.js';

export function hasSearch() {
  return capabilities.hasParam('GET', '/api/v1/runs', 'q');
}

export function SearchBox({ q, onSearch }) {
  const [text, setText] = useState(q || '');
  useEffect(() => setText(q || ''), [q]);
  const submit = (event) => {
    event.preventDefault();
    onSearch(text.trim());
  };
  return html`<form class="search-box" role="search" aria-label="Search runs" onSubmit=${submit}>
    <label for="run-search" class="visually-hidden">Search runs</label>
    <input id="run-search" type="search" value=${text} maxlength="200" autocomplete="off"
      placeholder="Search by run id, or text of args, data or error  (/)"
      onInput=${(e) => setText(e.currentTarget.value)} />
    <button type="submit" class="small">Search</button>
    ${q && html`<button type="button" class="small link" onClick=${() => onSearch('')}>Clear</button>`}
  </form>`;
}

// What a search answer covered, under the box.
export function SearchNote({ search }) {
  if (!search) return null;
  if (search.by === 'id') return html`<p class="small muted" data-search="id">The run with this id.</p>`;
  return html`<p class="small muted" data-search="text">
    Runs whose args, data or error contain the text, among the ${number(search.window)} most recent runs. Older runs are found by their id.
  </p>`;
}
