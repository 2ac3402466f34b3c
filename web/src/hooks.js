// Hooks shared by the pages: loading a resource, live refresh, a ticking clock.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { subscribe } from './live.js';

// useResource(signal => api(...), [deps]) → {data, error, loading, reload}.
// reload({quiet: true}) refreshes without showing the loading state again.
export function useResource(load, deps) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const generation = useRef(0);
  const controller = useRef(null);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(async ({ quiet = false } = {}) => {
    const mine = ++generation.current;
    if (controller.current) controller.current.abort();
    const ctrl = new AbortController();
    controller.current = ctrl;
    if (!quiet) setState((s) => ({ ...s, loading: true, error: null }));
    try {
      const data = await loadRef.current(ctrl.signal);
      if (mine === generation.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (error.name === 'AbortError' || mine !== generation.current) return;
      // A failed quiet refresh keeps what is shown and says so.
      setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, []);

  useEffect(() => {
    setState({ data: undefined, error: null, loading: true });
    reload();
    return () => {
      generation.current++;
      if (controller.current) controller.current.abort();
    };
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps

  return { ...state, reload };
}

// handler(event) for live events and polling ticks, while the component is mounted.
export function useLive(handler) {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => subscribe((event) => ref.current(event)), []);
}

// Calls fn at most once per `ms`, the last call winning (coalesces bursts of events).
export function useThrottled(fn, ms) {
  const ref = useRef(fn);
  ref.current = fn;
  const timer = useRef(null);
  const last = useRef(0);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      ref.current();
    }, wait);
  }, [ms]);
}

// The current time, updated every `ms` so relative times ("5 s ago") move.
export function useNow(ms = 5000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function useDocumentTitle(title) {
  useEffect(() => {
    document.title = title ? `${title} · taskmill` : 'taskmill';
  }, [title]);
}
