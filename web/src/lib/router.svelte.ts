// A small history router: paths are /tasks, /tasks/new, /tasks/<id>,
// /schedules, /daemons, /agents, /skills, /memory, /usage. The gateway answers every such path with index.html.
import { tick } from 'svelte';

export const route = $state({ path: location.pathname, search: location.search });

// The app scrolls and focuses itself after a route change.
if ('scrollRestoration' in history) history.scrollRestoration = 'manual';

/**
 * Moves focus to the new page after a route change (WCAG 2.4.3): to the
 * page's heading, unless the page already focused something of its own
 * (a form field) inside main.
 */
async function focusPage(): Promise<void> {
  await tick();
  const main = document.getElementById('main');
  const active = document.activeElement;
  if (main && active && active !== document.body && main.contains(active)) return;
  const h1 = main?.querySelector('h1') as HTMLElement | null;
  const target = h1 ?? main;
  if (!target) return;
  if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus({ preventScroll: true });
}

export function navigate(to: string, replace = false): void {
  const u = new URL(to, location.href);
  const samePage = u.pathname === route.path;
  if (replace) history.replaceState({}, '', u);
  else history.pushState({}, '', u);
  route.path = u.pathname;
  route.search = u.search;
  if (!samePage) {
    window.scrollTo(0, 0);
    void focusPage();
  }
}

window.addEventListener('popstate', () => {
  route.path = location.pathname;
  route.search = location.search;
  void focusPage();
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
