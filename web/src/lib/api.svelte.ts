// The gateway's HTTP API. Event types come from events.gen.ts (generated
// from schemas/); the API shapes below mirror bus.Summary, bus.DaemonView
// and friends in bus/summary.go, bus/presence.go and bus/api.go.
import type { TaskEvent } from './events.gen';

export type { TaskEvent };

export type State =
  | 'pending'
  | 'assigned'
  | 'running'
  | 'waiting_approval'
  | 'completed'
  | 'failed'
  | 'cancelled';

export const states: State[] = [
  'pending',
  'assigned',
  'running',
  'waiting_approval',
  'completed',
  'failed',
  'cancelled',
];

export function terminal(s: State | undefined): boolean {
  return s === 'completed' || s === 'failed' || s === 'cancelled';
}

export interface Summary {
  id: string;
  goal: string;
  state: State;
  daemon?: string;
  requested_daemon?: string;
  model?: string;
  skills?: string[];
  tools?: string[];
  schedule?: string;
  notify?: string;
  agent?: string;
  parent?: { task: string; call_id: string; wait?: boolean };
  depth?: number;
  children?: { task: string; call_id: string }[];
  result?: string;
  error?: string;
  cancel_requested?: boolean;
  pending_approvals?: string[];
  owner?: string;
  open_calls?: { call_id: string; tool: string; arguments?: string; seq: number; approval?: string }[];
  answer_seq?: number;
  rejected?: number;
  last_rejection?: string;
  attempts?: number;
  turns?: number;
  usage?: Usage;
  turn_seq: number;
  events: number;
  last_seq: number;
  created_at: string;
  started_at?: string;
  ended_at?: string;
  updated_at: string;
}

/** Tokens (and cost, with a price table) summed over completed turns. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cost_usd?: number;
}

export interface DaemonView {
  id: string;
  name: string;
  instance: string;
  version: string;
  hostname?: string;
  labels?: Record<string, string>;
  edge?: boolean;
  provider?: string;
  model?: string;
  capacity: number;
  running: string[] | null;
  status: string;
  heartbeat: string;
  started_at: string;
  last_seen: string;
  online: boolean;
  skills?: { name: string; description?: string; source?: string; missing?: string[] }[];
  agents?: { name: string; description?: string; source?: string; model?: string; tools?: string[] | null; skills?: string[] }[];
  mcp_servers?: MCPServerInfo[];
}

/** An MCP server a daemon's workers use (docs/mcp.md). */
export interface MCPServerInfo {
  name: string;
  transport: string;
  status: string;
  tools?: string[];
  error?: string;
}

export interface SkillView {
  name: string;
  description?: string;
  daemons: { daemon: string; online: boolean; source?: string; missing?: string[] }[];
}

export interface ScheduleRun {
  time: string;
  task?: string;
  skipped?: string;
  manual?: boolean;
  state?: State;
  result?: string;
}

/** bus.ScheduleView (bus/schedule.go, bus/api.go). */
export interface ScheduleView {
  name: string;
  cron?: string;
  every?: string;
  at?: string;
  tz?: string;
  pattern?: string;
  goal: string;
  daemon?: string;
  model?: string;
  skills?: string[];
  notify?: string;
  overlap?: string;
  by?: string;
  paused?: boolean;
  done?: boolean;
  created_at: string;
  last_run?: string;
  last_task?: string;
  runs?: ScheduleRun[];
  next_runs?: string[];
  last_state?: State;
  last_result?: string;
}

export interface AddSchedule {
  name: string;
  cron?: string;
  tz?: string;
  every?: string;
  at?: string;
  goal: string;
  daemon?: string;
  model?: string;
  skills?: string[];
  overlap?: string;
  notify?: string;
}

/** One revision of a memory file (bus.MemoryFile in bus/memory.go). */
export interface MemoryFile {
  scope: string;
  name: string;
  content?: string;
  bytes: number;
  revision: number;
  updated: string;
  deleted?: boolean;
}

/** Usage of the tasks on one model (bus.ModelUsage in bus/usage.go). */
export interface ModelUsage {
  model: string;
  tasks: number;
  usage: Usage;
}

/** Usage of the tasks created on one UTC day (bus.UsageDay). */
export interface UsageDay {
  day: string;
  tasks: number;
  usage: Usage;
  unpriced?: number;
  models?: ModelUsage[];
}

/** Usage per UTC day, oldest first (bus.UsageResponse, GET /api/usage). */
export interface UsageResponse {
  from: string;
  to: string;
  days: UsageDay[];
  total: UsageDay;
}

export interface Delta {
  task_id: string;
  text: string;
  index: number;
}

export class APIError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Set when the API answers 401; the app shows the token form. */
export const auth = $state({ needed: false });

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  const res = await fetch(path, init);
  if (res.status === 204) return undefined as T;
  let data: any = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    if (res.status === 401) auth.needed = true;
    throw new APIError(res.status, data?.error ?? `${res.status} ${res.statusText}`);
  }
  return data as T;
}

export const api = {
  listTasks: (q: { state?: string; daemon?: string; schedule?: string; q?: string; before?: string; limit?: number } = {}) => {
    const p = new URLSearchParams();
    if (q.state) p.set('state', q.state);
    if (q.daemon) p.set('daemon', q.daemon);
    if (q.schedule) p.set('schedule', q.schedule);
    if (q.q) p.set('q', q.q);
    if (q.before) p.set('before', q.before);
    if (q.limit) p.set('limit', String(q.limit));
    return call<{ tasks: Summary[]; total: number; next?: string }>('GET', '/api/tasks?' + p);
  },
  task: (id: string) => call<Summary>('GET', `/api/tasks/${encodeURIComponent(id)}`),
  createTask: (r: { goal: string; daemon?: string; model?: string; skills?: string[] }) =>
    call<Summary>('POST', '/api/tasks', r),
  send: (id: string, text: string, mode: 'queue' | 'steer') =>
    call<{ event: TaskEvent }>('POST', `/api/tasks/${encodeURIComponent(id)}/input`, { text, mode }),
  cancel: (id: string) => call<{ event: TaskEvent }>('POST', `/api/tasks/${encodeURIComponent(id)}/cancel`, {}),
  decide: (id: string, call_id: string, approved: boolean, reason?: string) =>
    call<{ event: TaskEvent }>('POST', `/api/tasks/${encodeURIComponent(id)}/decide`, { call_id, approved, reason }),
  schedules: () => call<{ schedules: ScheduleView[] }>('GET', '/api/schedules'),
  schedule: (name: string) => call<ScheduleView>('GET', `/api/schedules/${encodeURIComponent(name)}`),
  addSchedule: (r: AddSchedule) => call<ScheduleView>('POST', '/api/schedules', r),
  scheduleAction: (name: string, action: 'pause' | 'resume' | 'run') =>
    call<unknown>('POST', `/api/schedules/${encodeURIComponent(name)}/${action}`, {}),
  removeSchedule: (name: string) => call<unknown>('DELETE', `/api/schedules/${encodeURIComponent(name)}`),
  daemons: () => call<{ daemons: DaemonView[] }>('GET', '/api/daemons'),
  skills: () => call<{ skills: SkillView[] }>('GET', '/api/skills'),
  memoryList: (scope?: string) =>
    call<{ files: MemoryFile[] }>('GET', '/api/memory' + (scope ? '?' + new URLSearchParams({ scope }) : '')),
  memoryFile: (scope: string, name: string, revision?: number) => {
    const p = new URLSearchParams({ scope, name });
    if (revision) p.set('revision', String(revision));
    return call<MemoryFile>('GET', '/api/memory/file?' + p);
  },
  memoryHistory: (scope: string, name: string) =>
    call<{ revisions: MemoryFile[] }>('GET', '/api/memory/history?' + new URLSearchParams({ scope, name })),
  memoryPut: (scope: string, name: string, content: string, revision: number) =>
    call<MemoryFile>('PUT', '/api/memory/file', { scope, name, content, revision }),
  usage: (days: number) => call<UsageResponse>('GET', '/api/usage?' + new URLSearchParams({ days: String(days) })),
  memoryRestore: (scope: string, name: string, revision: number) =>
    call<MemoryFile>('POST', '/api/memory/restore', { scope, name, revision }),
  login: (token: string) => call<{ auth: boolean }>('POST', '/api/session', { token }),
};

export function eventsURL(id: string): string {
  return `/api/tasks/${encodeURIComponent(id)}/events`;
}
