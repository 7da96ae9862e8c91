// Folds a task's events into what the Task page shows: the same rules as
// bus.Summary.Apply (bus/summary.go), so the page needs nothing but the log.
import type { TaskEvent, EventOf } from './events.gen';
import type { State } from './api.svelte';

export interface Folded {
  goal: string;
  state: State;
  daemon?: string;
  model?: string;
  skills?: string[];
  pending: Set<string>;
  cancelRequested: boolean;
  createdAt?: string;
  startedAt?: string;
  endedAt?: string;
  plan?: EventOf<'viber.task.plan'>['data'];
  results: Map<string, EventOf<'viber.task.tool_result'>>;
  decisions: Map<string, EventOf<'viber.task.approval_decided'>>;
}

const isTerminal = (s: State) => s === 'completed' || s === 'failed' || s === 'cancelled';

export function fold(events: TaskEvent[]): Folded {
  const f: Folded = {
    goal: '',
    state: 'pending',
    pending: new Set(),
    cancelRequested: false,
    results: new Map(),
    decisions: new Map(),
  };
  for (const ev of events) {
    switch (ev.type) {
      case 'viber.task.created':
        f.goal = ev.data.goal;
        f.daemon = ev.data.daemon;
        f.model = ev.data.model;
        f.skills = ev.data.skills;
        f.createdAt = ev.time;
        break;
      case 'viber.task.input':
        if (isTerminal(f.state)) f.state = 'pending';
        break;
      case 'viber.task.assigned':
        f.daemon = ev.data.daemon;
        if (!isTerminal(f.state)) f.state = 'assigned';
        break;
      case 'viber.task.started':
        f.daemon = ev.data.daemon;
        if (ev.data.model) f.model = ev.data.provider ? `${ev.data.provider}/${ev.data.model}` : ev.data.model;
        if (!f.startedAt || isTerminal(f.state)) f.startedAt = ev.time;
        f.endedAt = undefined;
        f.state = 'running';
        break;
      case 'viber.task.plan':
        f.plan = ev.data;
        break;
      case 'viber.task.tool_result':
        f.results.set(ev.data.call_id, ev);
        break;
      case 'viber.task.approval_requested':
        f.pending.add(ev.data.call_id);
        f.state = 'waiting_approval';
        break;
      case 'viber.task.approval_decided':
        f.pending.delete(ev.data.call_id);
        f.decisions.set(ev.data.call_id, ev);
        if (f.pending.size === 0 && f.state === 'waiting_approval') f.state = 'running';
        break;
      case 'viber.task.cancel_requested':
        if (!isTerminal(f.state)) f.cancelRequested = true;
        break;
      case 'viber.task.completed':
      case 'viber.task.failed':
      case 'viber.task.cancelled':
        f.state = ev.type === 'viber.task.completed' ? 'completed' : ev.type === 'viber.task.failed' ? 'failed' : 'cancelled';
        f.endedAt = ev.time;
        f.cancelRequested = false;
        f.pending.clear();
        break;
    }
  }
  return f;
}
