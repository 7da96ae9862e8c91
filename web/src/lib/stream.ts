// Event streams the page holds open. Browsers allow only six HTTP/1.1
// connections per host, and a page kept in the back/forward cache keeps its
// streams: close them all when the page is hidden, and start over when it
// comes back.
const open = new Set<EventSource>();

export function stream(url: string): EventSource {
  const es = new EventSource(url);
  open.add(es);
  const close = es.close.bind(es);
  es.close = () => {
    open.delete(es);
    close();
  };
  return es;
}

window.addEventListener('pagehide', () => {
  for (const es of [...open]) es.close();
});

window.addEventListener('pageshow', (e) => {
  if (e.persisted) location.reload();
});
