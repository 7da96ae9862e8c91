// The event streams pages follow: a task's log (task:<id>) or the task
// watch (watch). Through the shared worker (hub.worker.ts) all tabs of a
// browser share one connection to the gateway (GET /api/streams), so the
// six-connections-per-host limit of HTTP/1.1 no longer caps the tabs;
// where SharedWorker is missing, each stream is its own EventSource on the
// single-stream routes.
//
// A page kept in the back/forward cache would keep its streams: they all
// close when the page is hidden, and the page starts over when it comes
// back.
import type { FromHub, ToHub } from './hub.worker';

export interface StreamHandlers {
  /** An SSE event of the stream: message (a stored event, id = seq), delta, ready, summary. */
  event(name: string, data: string, id?: string): void;
  /** The connection is (again) open. */
  open?(): void;
  /** The connection dropped (closed: it will not come back by itself, or the stream was refused). */
  error?(closed: boolean): void;
}

const closers = new Set<() => void>();

let hub: MessagePort | null | undefined;
const handlers = new Map<number, StreamHandlers>();
let nextSub = 1;

function connectHub(): MessagePort | null {
  if (hub !== undefined) return hub;
  hub = null;
  if (typeof SharedWorker === 'undefined') return hub;
  try {
    const w = new SharedWorker(new URL('./hub.worker.ts', import.meta.url), { type: 'module', name: 'viber-streams' });
    hub = w.port;
    hub.onmessage = (m: MessageEvent<FromHub>) => {
      const msg = m.data;
      const h = handlers.get(msg.sub);
      if (!h) return;
      if (msg.kind === 'event') h.event(msg.event, msg.data, msg.id);
      else if (msg.kind === 'open') h.open?.();
      else h.error?.(msg.closed);
    };
    hub.start();
    if (navigator.locks && typeof crypto.randomUUID === 'function') {
      // Held until the tab is gone, so the worker can drop its streams
      // even when the tab never says bye.
      // The worker asks for it only once the tab holds it.
      const lock = `viber-tab-${crypto.randomUUID()}`;
      const port = hub;
      navigator.locks.request(lock, () => {
        port.postMessage({ op: 'hello', lock } satisfies ToHub);
        return new Promise<void>(() => {});
      });
    }
  } catch {
    hub = null;
  }
  return hub;
}

function send(m: ToHub) {
  hub?.postMessage(m);
}

/**
 * Follows a stream: 'watch', or 'task:<id>' after seq after. Returns the
 * function that stops following it.
 */
export function follow(stream: string, after: number, h: StreamHandlers): () => void {
  const port = connectHub();
  let close: () => void;
  if (port) {
    const sub = nextSub++;
    handlers.set(sub, h);
    send({ op: 'sub', sub, stream, after });
    close = () => {
      handlers.delete(sub);
      send({ op: 'unsub', sub });
    };
  } else {
    close = direct(stream, after, h);
  }
  const stop = () => {
    closers.delete(stop);
    close();
  };
  closers.add(stop);
  return stop;
}

function direct(stream: string, after: number, h: StreamHandlers): () => void {
  const url = stream === 'watch' ? '/api/watch/tasks' : `/api/tasks/${encodeURIComponent(stream.slice(5))}/events${after ? `?after=${after}` : ''}`;
  const es = new EventSource(url);
  es.onopen = () => h.open?.();
  es.onmessage = (m) => h.event('message', m.data, m.lastEventId);
  for (const name of ['delta', 'ready', 'summary']) {
    es.addEventListener(name, (m) => h.event(name, (m as MessageEvent).data));
  }
  es.onerror = () => h.error?.(es.readyState === EventSource.CLOSED);
  return () => es.close();
}

window.addEventListener('pagehide', () => {
  for (const stop of [...closers]) stop();
  send({ op: 'bye' });
});

window.addEventListener('pageshow', (e) => {
  if (e.persisted) location.reload();
});
