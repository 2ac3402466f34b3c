// Live updates for every page. When the server streams Server-Sent Events
// (GET /api/v1/events), they are read with fetch — EventSource cannot send the
// Authorization header — and parsed here; pages get each event as
// {type: 'run.finished', id, data}. Without the stream, or while it reconnects,
// pages get {type: 'tick'} every 2 s and refresh what they show.
import { authHeaders, capabilities } from './api.js';

const POLL_MS = 2000;
const SAFETY_MS = 30000; // a refresh now and then even while streaming
const MAX_BACKOFF_MS = 30000;

const listeners = new Set();
const stateListeners = new Set();
let state = { mode: 'idle', detail: '' };
let pollTimer = null;
let stream = null; // {abort: AbortController}
let lastEventId = '';
let backoff = 1000;
let started = false;

function setState(mode, detail = '') {
  state = { mode, detail };
  for (const listener of stateListeners) listener(state);
}

// Paused by the user (header control): events are held back, and on resume the pages
// reload once, as after an overflow, so that they show what changed meanwhile.
let paused = false;
let missed = false;
const pauseListeners = new Set();

export function livePaused() {
  return paused;
}

export function onLivePaused(listener) {
  pauseListeners.add(listener);
  return () => pauseListeners.delete(listener);
}

export function setLivePaused(value) {
  if (paused === value) return;
  paused = value;
  for (const listener of pauseListeners) listener(paused);
  if (!paused && missed) {
    missed = false;
    emit({ type: 'overflow' });
  }
}

function emit(event) {
  if (paused) {
    missed = true;
    return;
  }
  for (const listener of [...listeners]) {
    try {
      listener(event);
    } catch (error) {
      // A page's handler must not stop the others.
      setTimeout(() => {
        throw error;
      });
    }
  }
}

// listener(event) for every event and tick; returns the unsubscribe function.
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// 'idle' | 'polling' | 'connecting' | 'streaming' | 'reconnecting'
export function liveState() {
  return state;
}

export function onLiveState(listener) {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}

function schedulePolling() {
  clearInterval(pollTimer);
  const every = state.mode === 'streaming' ? SAFETY_MS : POLL_MS;
  pollTimer = setInterval(() => {
    if (document.visibilityState !== 'hidden') emit({ type: 'tick' });
  }, every);
}

export function startLive() {
  if (started) return;
  started = true;
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') emit({ type: 'tick' });
  });
  if (capabilities.has('GET', '/api/v1/events')) {
    connect();
  } else {
    setState('polling');
  }
  schedulePolling();
}

// After sign-in or sign-out: the stream must carry the new token.
export function restartLive() {
  if (!started) return startLive();
  if (stream) stream.abort();
  stream = null;
  backoff = 1000;
  if (capabilities.has('GET', '/api/v1/events')) connect();
}

export function stopLive() {
  started = false;
  clearInterval(pollTimer);
  if (stream) stream.abort();
  stream = null;
  setState('idle');
}

async function connect() {
  const controller = new AbortController();
  stream = controller;
  setState(state.mode === 'streaming' || state.mode === 'reconnecting' ? 'reconnecting' : 'connecting');
  schedulePolling();
  const headers = { Accept: 'text/event-stream', ...authHeaders() };
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  try {
    const response = await fetch('/api/v1/events', { headers, signal: controller.signal, cache: 'no-store' });
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      // Not allowed or not there: poll, and let the pages' own requests sign out.
      stream = null;
      setState('polling', `events: ${response.status}`);
      schedulePolling();
      return;
    }
    if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
    setState('streaming');
    schedulePolling();
    backoff = 1000;
    emit({ type: 'tick' }); // catch up on what happened while disconnected
    await readStream(response.body, controller);
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  if (stream !== controller || controller.signal.aborted) return;
  // The stream ended or failed: poll meanwhile and try again later.
  setState('reconnecting');
  schedulePolling();
  const wait = backoff;
  backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  setTimeout(() => {
    if (stream === controller && !controller.signal.aborted) connect();
  }, wait);
}

// Parses text/event-stream (the WHATWG rules: event, data, id, retry; comments).
async function readStream(body, controller) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let type = '';
  let data = [];
  let id = null;
  const dispatch = () => {
    if (id !== null) lastEventId = id;
    if (data.length > 0) {
      const text = data.join('\n');
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // plain text event
      }
      let eventType = type || 'message';
      if (eventType === 'message' && parsed && typeof parsed === 'object' && typeof parsed.type === 'string') {
        eventType = parsed.type;
      }
      emit({ type: eventType, id: id ?? lastEventId, data: parsed });
    }
    type = '';
    data = [];
    id = null;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done || controller.signal.aborted) return;
    buffer += value;
    for (;;) {
      const match = /\r\n|\n|\r/.exec(buffer);
      if (!match) break;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (match[0] === '\r' && match.index === buffer.length - 1) break;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      if (line === '') {
        dispatch();
        continue;
      }
      if (line.startsWith(':')) continue; // comment / keep-alive
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'event') type = val;
      else if (field === 'data') data.push(val);
      else if (field === 'id' && !val.includes('\0')) id = val;
      else if (field === 'retry' && /^\d+$/.test(val)) backoff = Math.max(500, Number(val));
    }
  }
}

// Whether a page should reload what it shows: a polling tick, or an `overflow` event
// (the server dropped events this tab did not read in time, so the view may be stale).
export function isResync(event) {
  return event.type === 'tick' || event.type === 'overflow';
}

// The run an event is about, whatever the exact shape of its data.
export function eventRunId(event) {
  const d = event && event.data;
  if (!d || typeof d !== 'object') return '';
  return d.run_id || (d.run && d.run.id) || (event.type.startsWith('run') ? d.id : '') || '';
}
