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
}

export function fold(events: TaskEvent[]): Folded {
  const f: Folded = { goal: '', results: new Map(), decisions: new Map() };
  for (const ev of events) {
    switch (ev.type) {
      case 'viber.task.created':
        f.goal = ev.data.goal;
        f.createdAt = ev.time;
        break;
      case 'viber.task.plan':
        f.plan = ev.data;
        break;
      case 'viber.task.tool_result':
        f.results.set(ev.data.call_id, ev);
        break;
      case 'viber.task.approval_decided':
        f.decisions.set(ev.data.call_id, ev);
        break;
    }
  }
  return f;
}
