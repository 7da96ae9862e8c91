// What the Task page shows besides the task's state: the plan and, per tool
// call, its result and decision, read off the log. The task's state (and
// who holds it, what waits for approval) is never folded here: the gateway
// sends its own fold (bus.Summary) on the event stream as "summary" events,
// so the dashboard and every other reader agree by construction.
import type { TaskEvent, EventOf } from './events.gen';

export interface Folded {
  goal: string;
  createdAt?: string;
  plan?: EventOf<'viber.task.plan'>['data'];
  results: Map<string, EventOf<'viber.task.tool_result'>>;
  decisions: Map<string, EventOf<'viber.task.approval_decided'>>;
  /** Calls that asked for approval (their card stands for them). */
  asked: Map<string, EventOf<'viber.task.approval_requested'>>;
  /** The seq of each tool call by its call id. */
  callSeq: Map<string, number>;
  /** Per completed event (by seq): the answer its turn gave in a message. */
  turnAnswer: Map<number, string>;
  /** Time spent working, in ms, over ended turns (idle time excluded). */
  workedMs: number;
  /** When the running turn started (undefined when none runs). */
  runningSince?: string;
  /** Time of the last stored event. */
  lastTime?: string;
}

const ends = new Set(['viber.task.completed', 'viber.task.failed', 'viber.task.cancelled']);

export function fold(events: TaskEvent[]): Folded {
  const f: Folded = {
    goal: '',
    results: new Map(),
    decisions: new Map(),
    asked: new Map(),
    callSeq: new Map(),
    turnAnswer: new Map(),
    workedMs: 0,
  };
  let answer = '';
  for (const ev of events) {
    f.lastTime = ev.time;
    switch (ev.type) {
      case 'viber.task.created':
        f.goal = ev.data.goal;
        f.createdAt = ev.time;
        answer = '';
        break;
      case 'viber.task.input':
        answer = '';
        break;
      case 'viber.task.started':
        f.runningSince ??= ev.time;
        break;
      case 'viber.task.message':
        if (ev.data.role === 'assistant') answer = ev.data.text;
        break;
      case 'viber.task.plan':
        f.plan = ev.data;
        break;
      case 'viber.task.tool_call':
        f.callSeq.set(ev.data.call_id, ev.seq);
        break;
      case 'viber.task.tool_result':
        f.results.set(ev.data.call_id, ev);
        break;
      case 'viber.task.approval_requested':
        f.asked.set(ev.data.call_id, ev);
        break;
      case 'viber.task.approval_decided':
        f.decisions.set(ev.data.call_id, ev);
        break;
    }
    if (ends.has(ev.type)) {
      if (ev.type === 'viber.task.completed') f.turnAnswer.set(ev.seq, answer);
      if (f.runningSince) f.workedMs += Math.max(0, Date.parse(ev.time) - Date.parse(f.runningSince));
      f.runningSince = undefined;
    }
  }
  return f;
}
