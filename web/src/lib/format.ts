export function since(iso: string | undefined, now: number): string {
  if (!iso) return '—';
  return span(now - Date.parse(iso));
}

export function span(ms: number): string {
  if (!isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function duration(start: string | undefined, end: string | undefined, now: number): string {
  if (!start) return '—';
  const e = end ? Date.parse(end) : now;
  return span(e - Date.parse(start));
}

export function clock(iso: string): string {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function stateLabel(s: string): string {
  return s.replace('_', ' ');
}

/** A ticking "now" for ages and durations. */
export function ticker(cb: (n: number) => void, every = 1000): () => void {
  const h = setInterval(() => cb(Date.now()), every);
  return () => clearInterval(h);
}

export function prettyJSON(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Markdown as one line of plain text (for titles and the task list). */
export function plainText(md: string): string {
  return (md ?? '')
    .replace(/```[^\n]*\n?/g, ' ')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/^\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+/gm, '')
    .replace(/(\*\*|__|~~|`|\*)/g, '')
    .replace(/<[^>]*>/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** A goal cut to one short line. */
export function shortGoal(goal: string, max = 80): string {
  const t = plainText(goal);
  return t.length > max ? t.slice(0, max - 1).trimEnd() + '…' : t;
}
