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
  // States of a flow's step that has no run (yet).
  waiting: 'a step of a flow that waits for the steps before it',
  skipped: 'a step the flow ended without reaching',
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
  // Days rather than a date: a list of fire times reads alike from the first to the last.
  else if (abs < 86400 * 365) text = `${Math.round(abs / 86400)} d`;
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

// "2026-03-02 02:30 Europe/Berlin": an instant as a clock in `zone` shows it, with the
// zone named, so that a schedule's times read as the schedule says them (the browser's
// own zone may differ). Falls back to the browser's zone when `zone` is unknown.
export function zonedTime(value, zone) {
  const ms = parseTime(value);
  if (ms === null) return '';
  try {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone: zone || 'UTC',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      })
        .formatToParts(new Date(ms))
        .map((p) => [p.type, p.value]),
    );
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${zone || 'UTC'}`;
  } catch {
    return absoluteTime(value).slice(0, 16);
  }
}

// The last attempt that ended, from a run's attempt log.
export function lastEndedAttempt(run) {
  const attempts = run.attempts || [];
  for (let i = attempts.length - 1; i >= 0; i--) if (attempts[i].finished_at) return attempts[i];
  return null;
}

// What a run is doing in time, for lists and the run page:
// {took: seconds or null (the real length of the attempt shown), wait: text or ''}.
// A run waiting for its retry is pending with attempts behind it: its duration is the
// failed attempt's, not a clock still running since that attempt started.
export function runTiming(run, now = Date.now()) {
  if (run.status === 'pending') {
    const next = (run.attempt || 0) + 1;
    const max = run.max_attempts || 1;
    const at = parseTime(run.run_at);
    const last = run.attempt > 0 ? lastEndedAttempt(run) : null;
    const took = last ? between(last.started_at, last.finished_at, now) : null;
    if (run.attempt > 0) {
      const when = at !== null && at > now ? `in ${duration((at - now) / 1000)}` : 'due now';
      return { took, wait: `retry ${next} of ${max} ${when}`, kind: 'retrying' };
    }
    if (at !== null && at > now) return { took: null, wait: `starts in ${duration((at - now) / 1000)}`, kind: 'scheduled' };
    return { took: null, wait: '', kind: 'due' };
  }
  if (!run.started_at) return { took: null, wait: '', kind: run.status };
  return { took: between(run.started_at, run.finished_at, now), wait: '', kind: run.status };
}

// Axis and card numbers: "25,000", and "1.2M" past a million so that a label keeps its width.
export function axisNumber(v) {
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return String(+v.toFixed(2));
}
