// The only way the UI talks to taskmill: the public HTTP API under /api/v1
// (docs/api.md). Adds the bearer token when the user signed in, turns the API's
// error shape {"error":{"code","message","details"}} into ApiError, and knows which
// optional routes this server has (from its OpenAPI document, when it serves one).

const TOKEN_KEY = 'taskmill.token';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

// ---- token (sessionStorage: gone when the tab closes; never a cookie) ----------

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lives only in this page.
  }
  memoryToken = token;
}

let memoryToken = null;
function currentToken() {
  return memoryToken ?? getToken();
}

export function authHeaders() {
  const token = currentToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// Called with no argument when the API answers 401: the app shows the sign-in page.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

// ---- requests ---------------------------------------------------------------------

// api('/api/v1/runs', {query: {status: 'failed'}}) → parsed JSON (null for 204).
// body: a plain value is sent as JSON; a string or Blob is sent as is with
// options.contentType.
export async function api(path, options = {}) {
  const { method = 'GET', query, body, contentType, signal } = options;
  let url = path;
  if (query) {
    // Percent-encoded, a space as %20: URLSearchParams would write it as "+", which
    // the API reads as a plus sign (it decodes query values as RFC 3986 does, not as
    // an HTML form), so a search for two words found nothing.
    const text = Object.entries(query)
      .filter(([, value]) => value !== undefined && value !== null && value !== '')
      .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
      .join('&');
    if (text) url += (url.includes('?') ? '&' : '?') + text;
  }
  const headers = { Accept: 'application/json', ...authHeaders() };
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Blob) {
      payload = body;
      headers['Content-Type'] = contentType || 'application/json';
    } else {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload, signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'The taskmill server cannot be reached. Is it still running?', {});
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    const apiError = new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `The server answered ${response.status} ${response.statusText}.`,
      error.details,
    );
    if (response.status === 401) onUnauthorized(apiError);
    throw apiError;
  }
  return data;
}

export function runPath(run, suffix = '') {
  const id = typeof run === 'string' ? run : run.id;
  const queue = typeof run === 'string' ? '' : run.queue;
  const q = queue && queue !== 'default' ? `?queue=${encodeURIComponent(queue)}` : '';
  return `/api/v1/runs/${encodeURIComponent(id)}${suffix}${q}`;
}

// ---- what this server offers -------------------------------------------------------

// The routes of docs/api.md, which every taskmill server has.
const BASE_ROUTES = [
  'GET /api/v1/runs',
  'POST /api/v1/runs',
  'POST /api/v1/runs:batch',
  'GET /api/v1/runs/{}',
  'DELETE /api/v1/runs/{}',
  'POST /api/v1/runs/{}/cancel',
  'POST /api/v1/runs/{}/retry',
  'GET /api/v1/tasks',
  'GET /api/v1/tasks/{}',
  'POST /api/v1/tasks/{}/start',
  'GET /api/v1/functions',
  'GET /api/v1/stats',
];

function normalize(method, path) {
  return `${method.toUpperCase()} ${path.replace(/\{[^}]*\}/g, '{}')}`;
}

export const capabilities = {
  source: 'builtin', // 'openapi' once the server's OpenAPI document was read
  routes: new Set(BASE_ROUTES),
  queryParams: new Map(), // 'GET /api/v1/runs' → Set of query parameter names
  has(method, path) {
    return this.routes.has(normalize(method, path));
  },
  hasParam(method, path, name) {
    const params = this.queryParams.get(normalize(method, path));
    return Boolean(params && params.has(name));
  },
};

// Reads GET /api/v1/openapi.json once. A server without it keeps the built-in list,
// and the UI polls instead of streaming events.
export async function loadCapabilities() {
  let doc;
  try {
    doc = await api('/api/v1/openapi.json');
  } catch (error) {
    if (error.status === 401) throw error;
    return capabilities;
  }
  if (!doc || typeof doc.paths !== 'object') return capabilities;
  const server = doc.servers && doc.servers[0] && doc.servers[0].url;
  const prefix = typeof server === 'string' && server.startsWith('/') ? server.replace(/\/$/, '') : '';
  const routes = new Set(BASE_ROUTES);
  for (const [rawPath, item] of Object.entries(doc.paths)) {
    const path = rawPath.startsWith('/api/') || rawPath.startsWith('/healthz') ? rawPath : prefix + rawPath;
    for (const [method, operation] of Object.entries(item || {})) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const key = normalize(method, path);
      routes.add(key);
      const names = new Set();
      for (const p of [...(item.parameters || []), ...((operation && operation.parameters) || [])]) {
        if (p && p.in === 'query' && p.name) names.add(p.name);
      }
      capabilities.queryParams.set(key, names);
    }
  }
  capabilities.routes = routes;
  capabilities.source = 'openapi';
  return capabilities;
}

// ---- who the token is -------------------------------------------------------------

// {token: name or null, account, admin, authRequired, known}. `known` is false when the
// server has no GET /api/v1/whoami: the UI then hides what only admins may use.
export const session = { token: null, account: '', admin: false, authRequired: false, known: false };

export async function loadSession() {
  Object.assign(session, { token: null, account: '', admin: false, authRequired: false, known: false });
  if (!capabilities.has('GET', '/api/v1/whoami')) return session;
  try {
    const me = await api('/api/v1/whoami');
    Object.assign(session, {
      token: me.token ?? null,
      account: me.account || '',
      admin: Boolean(me.admin),
      authRequired: Boolean(me.auth_required),
      known: true,
    });
  } catch (error) {
    if (error.status === 401) throw error;
    // Not fatal: the pages work without it, minus the admin-only filter.
  }
  return session;
}

// Fetches a file from the API (with the token) and hands it to the browser as a
// download; used for CSV files when a token is needed, since a plain link cannot
// carry the Authorization header.
export async function downloadWithToken(url, filename) {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try {
      const data = await response.json();
      if (data && data.error && data.error.message) message = data.error.message;
    } catch {
      // not JSON
    }
    throw new ApiError(response.status, 'download', message, {});
  }
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = href;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

// ---- flows (docs/api.md, "Flows") ------------------------------------------------

// Starts a flow; answers its root run. args undefined: the flow gets none.
export function startFlow(name, args) {
  return api(`/api/v1/flows/${encodeURIComponent(name)}/runs`, {
    method: 'POST',
    body: args === undefined ? {} : { args },
  });
}

// Runs the step that failed a flow again, reopening the flow (the root back to
// running, what the failure stopped back to pending) in one commit.
export function retryFlowStep(flowRunId, step) {
  const root = encodeURIComponent(flowRunId);
  return api(`/api/v1/flows/runs/${root}/steps/${encodeURIComponent(step.name)}/retry`, { method: 'POST' });
}
