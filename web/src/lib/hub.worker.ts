// The shared worker that holds the dashboard's one event stream per
// browser. Browsers open at most six HTTP/1.1 connections per host, and
// every dashboard tab follows a stream (a task's log, or the task watch):
// so every tab asks this worker instead, and the worker follows all the
// streams the tabs want over one connection to GET /api/streams, whose
// events name their stream. When the set of streams changes (a tab opens
// or leaves a page) the worker reopens that connection, each task starting
// after the last event its tabs have; a tab gets each stored event once,
// in order, and "ready" once.

interface Sub {
  port: MessagePort;
  id: number;
  stream: string;
  /** The seq of the last stored event the tab has. */
  seq: number;
  ready: boolean;
}

export type ToHub =
  | { op: 'hello'; lock: string }
  | { op: 'sub'; sub: number; stream: string; after: number }
  | { op: 'unsub'; sub: number }
  | { op: 'bye' };
export type FromHub =
  | { sub: number; kind: 'event'; event: string; data: string; id?: string }
  | { sub: number; kind: 'open' }
  | { sub: number; kind: 'error'; closed: boolean };

interface MuxEvent {
  stream: string;
  event: string;
  id?: string;
  data: unknown;
}

const subs = new Set<Sub>();
let es: EventSource | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

function post(s: Sub, m: FromHub) {
  s.port.postMessage(m);
}

function url(): string {
  const from = new Map<string, number>();
  for (const s of subs) from.set(s.stream, Math.min(from.get(s.stream) ?? Infinity, s.seq));
  const p = new URLSearchParams();
  for (const [stream, seq] of [...from].sort()) {
    if (stream === 'watch') p.set('watch', '1');
    else if (stream.startsWith('task:')) p.append('task', seq > 0 ? `${stream.slice(5)}:${seq}` : stream.slice(5));
  }
  return '/api/streams?' + p;
}

function reopen() {
  es?.close();
  es = null;
  if (!subs.size) return;
  const src = new EventSource(url());
  es = src;
  src.onopen = () => {
    for (const s of subs) post(s, { sub: s.id, kind: 'open' });
  };
  src.onerror = () => {
    if (es !== src) return;
    const closed = src.readyState === EventSource.CLOSED;
    for (const s of subs) post(s, { sub: s.id, kind: 'error', closed });
    if (closed) es = null; // until the tabs ask again
  };
  src.addEventListener('mux', (m) => route(JSON.parse((m as MessageEvent).data) as MuxEvent));
}

function route(m: MuxEvent) {
  const data = JSON.stringify(m.data);
  const seq = m.id ? Number(m.id) : 0;
  for (const s of [...subs]) {
    if (s.stream !== m.stream) continue;
    switch (m.event) {
      case 'message':
        if (seq && seq <= s.seq) continue; // the tab has it
        if (seq) s.seq = seq;
        break;
      case 'ready':
        if (s.ready) continue;
        s.ready = true;
        break;
      case 'error':
        // The stream cannot be followed (the task does not exist): the
        // tab is told, and the stream left out of the connection.
        subs.delete(s);
        post(s, { sub: s.id, kind: 'error', closed: true });
        continue;
    }
    post(s, { sub: s.id, kind: 'event', event: m.event, data, id: m.id });
  }
}

function changed() {
  clearTimeout(timer);
  timer = setTimeout(reopen, 15);
}

(self as unknown as { onconnect: (e: MessageEvent) => void }).onconnect = (e: MessageEvent) => {
  const port = e.ports[0];
  port.onmessage = (m: MessageEvent<ToHub>) => {
    const msg = m.data;
    switch (msg.op) {
      case 'hello':
        // The tab holds this lock while it lives: the worker gets it when
        // the tab is gone without saying bye (closed, crashed, discarded).
        navigator.locks?.request(msg.lock, () => {
          for (const s of subs) if (s.port === port) subs.delete(s);
          changed();
        });
        return;
      case 'sub':
        subs.add({ port, id: msg.sub, stream: msg.stream, seq: msg.after, ready: false });
        break;
      case 'unsub':
        for (const s of subs) if (s.port === port && s.id === msg.sub) subs.delete(s);
        break;
      case 'bye':
        for (const s of subs) if (s.port === port) subs.delete(s);
        break;
    }
    changed();
  };
  port.start();
};
