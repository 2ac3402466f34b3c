// A run's life drawn to scale, so that "why did this start late" shows at a glance:
// the wait before its first attempt (until it was due — its scheduled instant or
// run_at — and then for a runner), each attempt's duration coloured by outcome, the
// waits for retries between attempts, the next attempt's wait for a pending run, and
// for a running run its lease (how long the runner holds it without a heartbeat).
// Each segment is also listed in words below the bar.
import { between, duration, parseTime } from '../format.js';
import { html } from '../html.js';

const OK = new Set(['completed', 'partial']);

// The segments of `run`, in order: {kind, label, from, to} (ms since the epoch).
export function timelineSegments(run, now = Date.now()) {
  const created = parseTime(run.created_at);
  if (created === null) return [];
  const attempts = [...(run.attempts || [])].sort((a, b) => a.number - b.number);
  if (run.status === 'running' && run.attempt && !attempts.some((a) => a.number === run.attempt)) {
    attempts.push({ number: run.attempt, started_at: run.started_at, outcome: 'running' });
  }
  const segments = [];
  const add = (kind, label, from, to) => {
    if (from !== null && to !== null && to >= from) segments.push({ kind, label, from, to });
  };
  // Before the first attempt: until it was due, then for a free runner.
  const firstStart = attempts.length ? parseTime(attempts[0].started_at) : null;
  const due = parseTime(run.scheduled_at) ?? (attempts.length <= 1 ? parseTime(run.run_at) : null) ?? created;
  const waitEnd = firstStart ?? (run.status === 'pending' ? now : parseTime(run.finished_at) ?? now);
  if (due > created) add('scheduled', 'waiting until due', created, Math.min(due, waitEnd));
  add('queued', 'due, waiting for a runner', Math.max(created, Math.min(due, waitEnd)), waitEnd);
  attempts.forEach((a, i) => {
    const start = parseTime(a.started_at);
    const running = a.outcome === 'running' || (!a.finished_at && run.status === 'running' && a.number === run.attempt);
    const end = parseTime(a.finished_at) ?? (running ? now : start);
    add(running ? 'running' : OK.has(a.outcome) ? 'ok' : 'failed', `attempt ${a.number}${running ? ', running' : a.outcome ? `, ${a.outcome}` : ''}`, start, end);
    const next = attempts[i + 1];
    if (next) add('retry', `waiting for attempt ${next.number}`, end, parseTime(next.started_at));
    else if (run.status === 'pending') {
      const at = parseTime(run.run_at);
      add('retry', `waiting for attempt ${a.number + 1}${at > now ? ' (due at the end)' : ''}`, end, Math.max(now, at ?? now));
    }
    if (running && run.lease_until) add('lease', `lease held until`, now, parseTime(run.lease_until));
  });
  return segments;
}

export function RunTimeline({ run, now }) {
  const segments = timelineSegments(run, now);
  if (segments.length === 0) return null;
  const from = Math.min(...segments.map((s) => s.from));
  const to = Math.max(...segments.map((s) => s.to), from + 1);
  const span = to - from;
  const pct = (t) => `${(((t - from) / span) * 100).toFixed(3)}%`;
  return html`<div class="run-timeline" data-testid="run-timeline">
    <div class="timeline-bar" role="img" aria-label=${`Timeline over ${duration(span / 1000)}: ${segments.map((s) => `${s.label} ${duration((s.to - s.from) / 1000)}`).join('; ')}`}>
      ${segments.map(
        (s, i) => html`<span key=${i} class=${`seg seg-${s.kind}`} data-kind=${s.kind} data-ms=${s.to - s.from}
          style=${`left:${pct(s.from)};width:max(3px, ${(((s.to - s.from) / span) * 100).toFixed(3)}%)`}
          title=${`${s.label}: ${duration((s.to - s.from) / 1000)}`}></span>`,
      )}
    </div>
    <div class="timeline-scale small muted"><span>0</span><span>${duration(span / 1000)}</span></div>
    <ol class="timeline-legend small">
      ${segments.map(
        (s, i) => html`<li key=${i} data-kind=${s.kind}><span class=${`swatch seg-${s.kind}`} aria-hidden="true"></span>${s.label}: <strong>${duration((s.to - s.from) / 1000)}</strong>
          <span class="muted"> (at +${duration(between(new Date(from).toISOString(), new Date(s.from).toISOString()))})</span></li>`,
      )}
    </ol>
  </div>`;
}
