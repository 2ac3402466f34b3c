// A small client-side router over the History API. The server answers index.html
// for every non-API path, so /runs/ID works on reload and as a bookmark.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

function current() {
  return { path: window.location.pathname, search: window.location.search };
}

function notify() {
  for (const listener of listeners) listener(current());
}

// navigate('/runs?status=failed'); replace: true keeps the history entry (filters).
export function navigate(to, { replace = false } = {}) {
  const here = window.location.pathname + window.location.search;
  if (to === here) return;
  window.history[replace ? 'replaceState' : 'pushState'](null, '', to);
  if (!replace) window.scrollTo(0, 0);
  notify();
}

window.addEventListener('popstate', notify);

// Plain <a href="/..."> links inside the app navigate without a page load.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest && event.target.closest('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href, window.location.href);
  if (url.origin !== window.location.origin || url.pathname.startsWith('/api/')) return;
  // A jump inside this page (#main, #fn-demo.echo) is the browser's business.
  if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

export function useLocation() {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    listeners.add(setLocation);
    setLocation((shown) => {
      const now = current();
      return shown.path === now.path && shown.search === now.search ? shown : now;
    });
    return () => listeners.delete(setLocation);
  }, []);
  return location;
}

export function queryParams(search) {
  return Object.fromEntries(new URLSearchParams(search));
}

export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
