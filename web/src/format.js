// Formatting of times, durations and ids for people.

export const STATUSES = [
  'pending',
  'running',
  'completed',
  'partial',
  'failed',
  'lost',
  'stopped',
  'did_not_start',
  'unknown_task',
];
export const FINAL_STATUSES = new Set(STATUSES.filter((s) => s !== 'pending' && s !== 'running'));
export const isLive = (status) => status === 'pending' || status === 'running';

export const STATUS_HELP = {
  pending: 'waiting for its time or for a free runner',
  running: 'a runner is working on it',
  completed: 'finished successfully',
  partial: 'some rows succeeded and some failed',
  failed: 'the last attempt failed and no attempt is left',
  lost: 'its runner went silent and no attempt is left',
  stopped: 'cancelled by an operator',
  did_not_start: 'a scheduled launch that was skipped',
  unknown_task: 'no runner has its function',
};

export function statusLabel(status) {
  return String(status || 'unknown').replace(/_/g, ' ');
}

export function parseTime(value) {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

export function absoluteTime(value) {
  const ms = parseTime(value);
  if (ms === null) return '';
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(
    d.getMinutes(),
  )}:${pad(d.getSeconds())}`;
}

export function clockTime(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// "5 s ago", "in 3 min", "2 h ago", then the date.
export function relativeTime(value, now = Date.now()) {
  const ms = parseTime(value);
  if (ms === null) return '';
  const delta = (ms - now) / 1000;
  const abs = Math.abs(delta);
  let text;
  if (abs < 1.5) return 'just now';
  if (abs < 60) text = `${Math.round(abs)} s`;
  else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400 * 2) text = `${Math.round(abs / 3600)} h`;
  else return absoluteTime(value).slice(0, 16);
  return delta < 0 ? `${text} ago` : `in ${text}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '';
  if (seconds < 0) seconds = 0;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

export function between(start, end, now = Date.now()) {
  const a = parseTime(start);
  if (a === null) return null;
  const b = parseTime(end) ?? now;
  return (b - a) / 1000;
}

// UUIDv7 ids share their leading (time) digits; the tail tells runs apart.
export function shortId(id) {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
    return id.slice(-12);
  }
  return id;
}

export function number(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '');
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}
