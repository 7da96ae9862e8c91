// Why a pending task waits, from what the gateway says about daemons
// (/api/daemons) and the task's summary. The dashboard computes it so that
// a user sees at once whether to start a daemon, free a slot (approve what
// waits) or pick another skill.
import type { DaemonView, Summary } from './api.svelte';

function hasSkills(d: DaemonView, need: string[]): boolean {
  return need.every((n) => (d.skills ?? []).some((k) => k.name === n && !(k.missing ?? []).length));
}

// Mirrors bus.DaemonInfo.OffersTools: an mcp_ tool must be offered by one
// of the daemon's connected MCP servers; other tools are built in.
function hasTools(d: DaemonView, need: string[]): boolean {
  return need.every(
    (n) => !n.startsWith('mcp_') || (d.mcp_servers ?? []).some((m) => m.status === 'connected' && (m.tools ?? []).includes(n)),
  );
}

// Mirrors bus.DaemonInfo.HasAgent: '' is the default agent, which every
// daemon has.
function hasAgent(d: DaemonView, agent: string | undefined): boolean {
  return !agent || (d.agents ?? []).some((a) => a.name === agent);
}

const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;

/**
 * Says why a pending task has not started, or '' when it is not pending.
 * waiting holds the ids of tasks waiting for an approval.
 */
export function waitReason(s: Summary | null, daemons: DaemonView[], waiting: Set<string>): string {
  if (!s || s.state !== 'pending') return '';
  const online = daemons.filter((d) => d.online);
  let candidates = online;
  if (s.requested_daemon) {
    const d = daemons.find((x) => x.id === s.requested_daemon);
    if (!d) return `It waits for daemon ${s.requested_daemon}, which has never been seen.`;
    if (!d.online) return `It waits for daemon ${s.requested_daemon}, which is offline.`;
    candidates = [d];
  } else if (online.length === 0) {
    return 'No daemon is online: start one with viberd (or viber up).';
  }
  const need = s.skills ?? [];
  if (need.length) {
    candidates = candidates.filter((d) => hasSkills(d, need));
    if (!candidates.length) {
      return `No online daemon has the skill${need.length > 1 ? 's' : ''} ${need.join(', ')}.`;
    }
  }
  const tools = s.tools ?? [];
  if (tools.length) {
    candidates = candidates.filter((d) => hasTools(d, tools));
    if (!candidates.length) {
      return `No online daemon offers the tool${tools.length > 1 ? 's' : ''} ${tools.join(', ')}.`;
    }
  }
  if (s.agent) {
    candidates = candidates.filter((d) => hasAgent(d, s.agent));
    if (!candidates.length) {
      return s.requested_daemon
        ? `Daemon ${s.requested_daemon} does not offer the agent ${s.agent}.`
        : `No online daemon offers the agent ${s.agent}.`;
    }
  }
  const full = candidates.every((d) => (d.running ?? []).length >= d.capacity);
  if (full) {
    const slots = candidates.reduce((n, d) => n + d.capacity, 0);
    const onApproval = candidates.flatMap((d) => d.running ?? []).filter((id) => waiting.has(id)).length;
    const who = candidates.length === 1 ? `the daemon that can run it (${candidates[0].id})` : `the ${candidates.length} daemons that can run it`;
    if (slots === 1) {
      return `The one slot of ${who} is busy${onApproval ? ' with a task waiting for approval' : ''}.`;
    }
    let why = `All ${plural(slots, 'slot')} of ${who} are busy`;
    if (onApproval) why += `; ${onApproval} ${onApproval === 1 ? 'holds a task' : 'hold tasks'} waiting for approval`;
    return why + '.';
  }
  return 'A daemon with a free slot should take it in a moment.';
}
