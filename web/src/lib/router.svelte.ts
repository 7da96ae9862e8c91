// A small history router: paths are /tasks, /tasks/new, /tasks/<id>,
// /schedules, /daemons, /skills. The gateway answers every such path with index.html.
export const route = $state({ path: location.pathname, search: location.search });

export function navigate(to: string, replace = false): void {
  const u = new URL(to, location.href);
  if (replace) history.replaceState({}, '', u);
  else history.pushState({}, '', u);
  route.path = u.pathname;
  route.search = u.search;
  window.scrollTo(0, 0);
}

window.addEventListener('popstate', () => {
  route.path = location.pathname;
  route.search = location.search;
});

/** Follows same-origin links without reloading the page. */
export function interceptLinks(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a || a.target || a.hasAttribute('download')) return;
  const href = a.getAttribute('href');
  if (!href || !href.startsWith('/') || href.startsWith('//') || href.startsWith('/api/')) return;
  e.preventDefault();
  navigate(href);
}
