// The taskmill web UI: app shell, sign-in, navigation and routes.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, getToken, loadCapabilities, loadSession, session, setToken, setUnauthorizedHandler } from './api.js';
import { ErrorMessage, Loading, Notices } from './components.js';
import { html } from './html.js';
import { livePaused, liveState, onLivePaused, onLiveState, restartLive, setLivePaused, stopLive } from './live.js';
import { startThroughputRecorder } from './throughput.js';
import { useLocation } from './router.js';
import { Dashboard } from './pages/dashboard.js';
import { Tasks } from './pages/tasks.js';
import { Runs } from './pages/runs.js';
import { RunDetail } from './pages/run.js';
import { Functions } from './pages/functions.js';
import { Flows } from './pages/flows.js';
import { FlowRun } from './pages/flow_run.js';
import { SignIn } from './pages/signin.js';

const NAV = [
  ['/', 'Dashboard'],
  ['/tasks', 'Tasks'],
  ['/runs', 'Runs'],
  ['/flows', 'Flows'],
  ['/functions', 'Functions'],
];

function route(path) {
  if (path === '/' || path === '') return html`<${Dashboard} />`;
  if (path === '/tasks') return html`<${Tasks} />`;
  if (path === '/runs') return html`<${Runs} />`;
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return html`<${RunDetail} id=${decodeURIComponent(run[1])} />`;
  if (path === '/functions') return html`<${Functions} />`;
  if (path === '/flows') return html`<${Flows} />`;
  const flowRun = /^\/flows\/runs\/([^/]+)$/.exec(path);
  if (flowRun) return html`<${FlowRun} id=${decodeURIComponent(flowRun[1])} />`;
  return html`<section>
    <h1 tabindex="-1">Page not found</h1>
    <p>There is no page at <code>${path}</code>. <a href="/">Go to the dashboard</a>.</p>
  </section>`;
}

function LiveIndicator() {
  const [state, setState] = useState(liveState());
  useEffect(() => {
    // The state may have changed between the first render and this subscription.
    setState(liveState());
    return onLiveState(setState);
  }, []);
  const text = {
    idle: '',
    polling: 'Updates every 2 s',
    connecting: 'Connecting…',
    streaming: 'Live',
    reconnecting: 'Reconnecting…',
  }[state.mode];
  if (!text) return null;
  const title =
    state.mode === 'streaming'
      ? 'Changes arrive as they happen (server-sent events)'
      : state.mode === 'polling'
        ? 'This server has no event stream; pages refresh every 2 seconds'
        : 'The event stream was interrupted; pages refresh every 2 seconds meanwhile';
  return html`<span class=${`live live-${state.mode}`} title=${title} data-live=${state.mode}
    ><span class="dot" aria-hidden="true"></span>${text}</span
  >`;
}

// Holds back live updates (a busy first page of runs stops moving); resuming reloads
// what the page shows.
function PauseLive() {
  const [paused, setPaused] = useState(livePaused());
  useEffect(() => onLivePaused(setPaused), []);
  return html`<button type="button" class="small" aria-pressed=${paused ? 'true' : 'false'} data-pause-live
    title=${paused ? 'Live updates are paused; resume to see what changed' : 'Stop the pages from changing while you read them'}
    onClick=${() => setLivePaused(!paused)}>${paused ? 'Resume updates' : 'Pause updates'}</button>`;
}

// Light or dark: the system's choice until the user picks one (kept in this browser).
const THEME_KEY = 'taskmill.theme';
function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}
try {
  applyTheme(localStorage.getItem(THEME_KEY) || '');
} catch {
  // Storage disabled: the system's choice.
}
function ThemeToggle() {
  const systemDark = () => window.matchMedia('(prefers-color-scheme: dark)').matches;
  const [theme, setTheme] = useState(document.documentElement.dataset.theme || '');
  const dark = theme ? theme === 'dark' : systemDark();
  const flip = () => {
    const next = dark ? 'light' : 'dark';
    applyTheme(next);
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch {
      // kept for this page only
    }
    setTheme(next);
  };
  return html`<button type="button" class="small" data-theme-toggle aria-label=${dark ? 'Use the light theme' : 'Use the dark theme'} onClick=${flip}>${dark ? 'Light' : 'Dark'}</button>`;
}

function Shell({ signedIn, onSignOut }) {
  const { path } = useLocation();
  const first = useRef(true);
  const section = path === '/' ? '/' : `/${path.split('/')[1]}`;
  // After a navigation, move focus to the new page's heading (screen readers
  // announce it; keyboard users continue from the top of the page).
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const heading = document.querySelector('main h1');
    if (heading) heading.focus({ preventScroll: true });
  }, [path]);
  return html`<a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="/" aria-label="taskmill dashboard">
        <svg viewBox="0 0 16 16" width="20" height="20" aria-hidden="true">
          <rect width="16" height="16" rx="3" fill="currentColor" />
          <path d="M4 5h8M4 8h8M4 11h5" stroke="white" stroke-width="1.6" />
        </svg>
        taskmill
      </a>
      <nav aria-label="Main">
        <ul>
          ${NAV.map(
            ([href, label]) => html`<li key=${href}>
              <a href=${href} aria-current=${section === href ? 'page' : undefined}>${label}</a>
            </li>`,
          )}
        </ul>
      </nav>
      <div class="top-right">
        <${LiveIndicator} />
        <${PauseLive} />
        <${ThemeToggle} />
        ${signedIn &&
        html`<span class="who" title=${session.admin ? 'This token may act for every account' : `This token sees the runs of account ${session.account || '(none)'}`}>
            ${session.token || 'signed in'}${session.admin ? ' (admin)' : session.account ? ` (${session.account})` : ''}
          </span>
          <button type="button" class="small" onClick=${onSignOut}>Sign out</button>`}
      </div>
    </header>
    <main id="main" tabindex="-1">${route(path)}</main>
    <${Notices} />`;
}

function App() {
  // checking → ready | signin | unreachable
  const [auth, setAuth] = useState({ state: 'checking' });
  const authState = useRef(auth.state);
  authState.current = auth.state;

  const enter = async () => {
    await loadCapabilities();
    await loadSession();
    setAuth({ state: 'ready' });
    startThroughputRecorder();
    restartLive();
  };

  const check = async () => {
    setAuth({ state: 'checking' });
    try {
      await api('/api/v1/stats');
      await enter();
    } catch (error) {
      if (error.status === 401) {
        const hadToken = Boolean(getToken());
        if (hadToken) setToken('');
        setAuth({
          state: 'signin',
          reason: hadToken ? 'Your saved token is no longer accepted. Sign in again.' : '',
        });
      } else {
        setAuth({ state: 'unreachable', error });
      }
    }
  };

  useEffect(() => {
    // A 401 while the app is shown: the token was revoked, or tokens were turned on.
    // (While checking or signing in, the caller handles the 401 itself.)
    setUnauthorizedHandler(() => {
      if (authState.current !== 'ready') return;
      stopLive();
      setToken('');
      setAuth({ state: 'signin', reason: 'The server asked for a token again. Sign in to continue.' });
    });
    check();
  }, []);

  if (auth.state === 'checking') return html`<main id="main" class="center"><${Loading}>Connecting to taskmill…<//></main>`;
  if (auth.state === 'unreachable') {
    return html`<main id="main" class="center">
      <h1>taskmill</h1>
      <${ErrorMessage} error=${auth.error} what="the server status" onRetry=${check} />
    </main>`;
  }
  if (auth.state === 'signin') {
    return html`<${SignIn}
      reason=${auth.reason}
      onSignedIn=${(token) => {
        setToken(token);
        // A failure here (server gone meanwhile) is shown by the check.
        enter().catch(check);
      }}
    />`;
  }
  return html`<${Shell}
    signedIn=${Boolean(getToken())}
    onSignOut=${() => {
      setToken('');
      stopLive();
      check();
    }}
  />`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "Loading taskmill…" placeholder of index.html
render(html`<${App} />`, root);
