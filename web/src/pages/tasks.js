// Tasks: every configured task with kind, what it runs, schedule, next fire times,
// state and last run; start now, enable and disable.
import { useState } from 'preact/hooks';
import { api, capabilities, session } from '../api.js';
import { Empty, ErrorMessage, Loading, StatusBadge, Time, notify } from '../components.js';
import { shortId, zonedTime } from '../format.js';
import { html } from '../html.js';
import { useDocumentTitle, useLive, useNow, useResource, useThrottled } from '../hooks.js';
import { LaunchDialog } from '../launch.js';
import { isResync } from '../live.js';
import { TaskHistory } from './task_history.js';

function nextFireTimes(task) {
  return task.next_fire_times || task.next_fires || task.next_runs || null;
}

function What({ task }) {
  if (task.command && task.command.length > 0) {
    return html`<code class="command" title=${task.command.join(' ')}>${task.command.map((arg, i) => html`<span key=${i} class="arg">${arg}</span>`)}</code>`;
  }
  return html`<a href=${`/functions#fn-${task.function}`}><code>${task.function}</code></a>`;
}

function Schedule({ task }) {
  if (task.kind === 'periodical') {
    return html`<code>${task.schedule}</code> <span class="muted small">${task.timezone || 'UTC'}</span>`;
  }
  if (task.kind === 'continuous') {
    return html`<span>always one run</span>${task.pause_sec != null
      ? html` <span class="muted small">pause ${task.pause_sec} s</span>`
      : ''}`;
  }
  return html`<span class="muted">on demand</span>`;
}

function NextFires({ task, now }) {
  if (task.kind !== 'periodical') return html`<span class="muted">—</span>`;
  if (task.enabled === false) return html`<span class="muted">disabled</span>`;
  const next = nextFireTimes(task);
  if (!next) return html`<span class="muted small">not reported by this server</span>`;
  if (next.length === 0) return html`<span class="muted">none</span>`;
  return html`<ol class="fires">
    ${next.slice(0, 3).map((t) => {
      // In the task's own zone, named: a 02:30 Europe/Berlin schedule reads 02:30.
      const [day, clock, zone] = zonedTime(t, task.timezone || 'UTC').split(' ');
      return html`<li key=${t}><time datetime=${t} title=${t}>${day} ${clock}</time> <span class="zone">${zone}</span> <span class="muted small">(<${Time} at=${t} now=${now} />)</span></li>`;
    })}
  </ol>`;
}

function LastRun({ task, now }) {
  const live = task.live_run;
  const last = live || task.last_run;
  if (!last) return html`<span class="muted">never ran</span>`;
  return html`<div class="last-run">
    <${StatusBadge} status=${last.status} />
    <a href=${`/runs/${encodeURIComponent(last.id)}${last.queue && last.queue !== 'default' ? `?queue=${encodeURIComponent(last.queue)}` : ''}`} title=${last.id}
      ><code>${shortId(last.id)}</code></a
    >
    ${last.finished_at ? html`<${Time} at=${last.finished_at} now=${now} />` : last.started_at ? html`<span class="small">since <${Time} at=${last.started_at} now=${now} /></span>` : ''}
    ${task.kind === 'continuous' && task.restart_count != null && html`<span class="small muted">${task.restart_count} restarts</span>`}
  </div>`;
}

export function Tasks() {
  useDocumentTitle('Tasks');
  const now = useNow(5000);
  const tasks = useResource((signal) => api('/api/v1/tasks', { signal }), []);
  const refresh = useThrottled(() => tasks.reload({ quiet: true }), 1000);
  useLive((event) => {
    // Runs of no task (anonymous function runs) change nothing here.
    const ofTask = event.type.startsWith('run.') && !(event.data && event.data.task === '');
    if (isResync(event) || ofTask || event.type.startsWith('task.')) refresh();
  });
  const [launching, setLaunching] = useState(null);
  const [toggling, setToggling] = useState('');
  const [history, setHistory] = useState(null);

  // What the token may do: enabling and disabling tasks and starting command tasks
  // are for admins (the API refuses account tokens), so they are not offered at all.
  const admin = !session.known || session.admin;
  const isCommand = (task) => Array.isArray(task.command) && task.command.length > 0;
  const canToggle = capabilities.has('POST', '/api/v1/tasks/{}/enable') && capabilities.has('POST', '/api/v1/tasks/{}/disable');
  const canPatch = capabilities.has('PATCH', '/api/v1/tasks/{}');

  const toggle = async (task) => {
    const enable = task.enabled === false;
    setToggling(task.name);
    try {
      const path = `/api/v1/tasks/${encodeURIComponent(task.name)}`;
      if (canToggle) await api(`${path}/${enable ? 'enable' : 'disable'}`, { method: 'POST' });
      else await api(path, { method: 'PATCH', body: { enabled: enable } });
      notify(`Task ${task.name} ${enable ? 'enabled' : 'disabled'}.`);
      await tasks.reload({ quiet: true });
    } catch (error) {
      notify(`Could not ${enable ? 'enable' : 'disable'} ${task.name}: ${error.message}`, { kind: 'error' });
    } finally {
      setToggling('');
    }
  };

  const list = (tasks.data && tasks.data.tasks) || [];
  return html`<section class="page">
    <div class="page-head">
      <h1 tabindex="-1">Tasks</h1>
      <p class="muted">Tasks come from the configuration file and are stored, so every node sees the same set.</p>
    </div>
    ${tasks.loading && !tasks.data
      ? html`<${Loading}>Loading tasks…<//>`
      : !tasks.data
        ? html`<${ErrorMessage} error=${tasks.error} what="the tasks" onRetry=${tasks.reload} />`
        : list.length === 0
          ? html`<${Empty}>
              <p><strong>No tasks are defined.</strong></p>
              <p>Add tasks under <code>tasks:</code> in the configuration file and restart the server, or run a function once from the <a href="/functions">Functions</a> page.</p>
            <//>`
          : html`${tasks.error && html`<${ErrorMessage} error=${tasks.error} what="fresh task data" />`}
            <table class="table responsive tasks-table">
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Function or command</th>
                  <th scope="col">Schedule</th>
                  <th scope="col">Next fire times</th>
                  <th scope="col">State</th>
                  <th scope="col">Last run</th>
                  <th scope="col"><span class="visually-hidden">Actions</span></th>
                </tr>
              </thead>
              <tbody>
                ${list.map(
                  (task) => html`<tr key=${task.name} data-task=${task.name}>
                    <th scope="row" data-label="Task"><strong>${task.name}</strong>${task.queue && task.queue !== 'default' ? html`<div class="small muted">queue ${task.queue}</div>` : ''}</th>
                    <td data-label="Kind">${task.kind.replace('_', ' ')}</td>
                    <td data-label="Runs what"><${What} task=${task} /></td>
                    <td data-label="Schedule"><${Schedule} task=${task} /></td>
                    <td data-label="Next fire times"><${NextFires} task=${task} now=${now} /></td>
                    <td data-label="State">
                      <span class=${task.enabled === false ? 'tag tag-off' : 'tag tag-on'}>${task.enabled === false ? 'disabled' : 'enabled'}</span>
                      ${(canToggle || canPatch) && admin &&
                      html` <button type="button" class="small" disabled=${toggling === task.name} onClick=${() => toggle(task)}
                          aria-label=${`${task.enabled === false ? 'Enable' : 'Disable'} task ${task.name}`}>
                          ${task.enabled === false ? 'Enable' : 'Disable'}
                        </button>`}
                    </td>
                    <td data-label="Last run"><${LastRun} task=${task} now=${now} /></td>
                    <td class="row-actions">
                      ${admin || !isCommand(task)
                        ? html`<button type="button" class="primary small" onClick=${() => setLaunching({ task })} aria-label=${`Start task ${task.name} now`}>
                            Start…
                          </button>`
                        : html`<span class="small muted" title="Command tasks are started by admin tokens only">admin only</span>`}
                      ${task.kind === 'periodical' &&
                      html` <button type="button" class="small" onClick=${() => setHistory(task)} aria-label=${`Launch history of ${task.name}`}>History</button>`}
                    </td>
                  </tr>`,
                )}
              </tbody>
            </table>
            ${!canToggle && !canPatch && html`<p class="small muted">Enabling and disabling tasks is not available from this server yet.</p>`}
            ${!admin && html`<p class="small muted">Signed in with an account token: enabling, disabling and starting command tasks are for admin tokens.</p>`}`}
    <${TaskHistory} task=${history} onClose=${() => setHistory(null)} />
    <${LaunchDialog}
      target=${launching}
      onClose=${() => setLaunching(null)}
      onStarted=${(run) => {
        setLaunching(null);
        notify(`Started task ${run.task || ''}: run ${shortId(run.id)} is ${run.status}.`, {
          link: `/runs/${encodeURIComponent(run.id)}${run.queue && run.queue !== 'default' ? `?queue=${encodeURIComponent(run.queue)}` : ''}`,
          linkText: 'View run',
        });
        tasks.reload({ quiet: true });
      }}
    />
  </section>`;
}
