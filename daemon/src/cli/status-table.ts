// `raftctl status`: one row per member from each member's own GET /v1/status, with lag
// measured against the leader's commit index. Rendering is pure and unit-tested.

/** The fields of GET /v1/status the table uses. */
export interface StatusBody {
  readonly name: string;
  readonly role: string;
  readonly term: number;
  readonly leader: { readonly name: string; readonly clientUrl: string } | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  /** Extension: the member applied its own removal. */
  readonly removed?: boolean;
  readonly members?: readonly { readonly name: string; readonly peerUrl: string; readonly clientUrl: string; readonly voter: boolean }[];
}

/** One member: its status, or why it could not be read. */
export interface MemberRow {
  readonly name: string;
  readonly clientUrl: string;
  readonly voter: boolean | null;
  readonly status: StatusBody | null;
  readonly error: string | null;
}

function pad(cells: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of cells) row.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

/**
 * Renders the table: NAME ROLE TERM COMMIT APPLIED LAG CLIENT-URL, sorted by name. LAG is the
 * leader's commit index minus the member's applied index (`-` when no leader answered).
 * Unreachable members show their error in place of the numbers.
 */
export function renderStatusTable(rows: readonly MemberRow[]): string {
  const leaders = rows.filter((r) => r.status?.role === 'leader').map((r) => r.status as StatusBody);
  // Two members may both think they lead for a moment; the higher term is the real one.
  const leader = leaders.sort((a, b) => b.term - a.term)[0] ?? null;
  const cells: string[][] = [['NAME', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'CLIENT-URL']];
  for (const r of [...rows].sort((a, b) => a.name.localeCompare(b.name))) {
    const s = r.status;
    if (s === null) {
      cells.push([r.name, 'unreachable', '-', '-', '-', '-', `${r.clientUrl || '-'} (${r.error ?? 'no answer'})`]);
      continue;
    }
    const role = s.removed === true ? 'removed' : s.role === 'follower' && r.voter === false ? 'learner' : s.role;
    const lag = leader === null ? '-' : String(Math.max(0, leader.commitIndex - s.appliedIndex));
    cells.push([s.name, role, String(s.term), String(s.commitIndex), String(s.appliedIndex), lag, r.clientUrl || '-']);
  }
  const summary = leader === null ? 'no leader answered' : `leader ${leader.name}, term ${leader.term}, commit ${leader.commitIndex}`;
  return `${pad(cells)}\n${summary}\n`;
}
