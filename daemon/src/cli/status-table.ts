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
  /** The member's last log index (absent from members of older versions). */
  readonly lastIndex?: number;
  readonly snapshotIndex?: number;
  /** The KV revision applied locally. */
  readonly revision?: number;
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
 * The leader the table measures lag against: two members may both think they lead for a moment;
 * the higher term is the real one. Null when no leader answered.
 */
export function referenceLeader(rows: readonly MemberRow[]): StatusBody | null {
  const leaders = rows.filter((r) => r.status?.role === 'leader').map((r) => r.status as StatusBody);
  return leaders.sort((a, b) => b.term - a.term)[0] ?? null;
}

/** A member's role as shown: learners and removed members named as such. */
function roleOf(r: MemberRow, s: StatusBody): string {
  return s.removed === true ? 'removed' : s.role === 'follower' && r.voter === false ? 'learner' : s.role;
}

/** One member as `raftctl status -w json` prints it. */
export interface StatusJsonMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly voter: boolean | null;
  readonly role: string | null;
  readonly term: number | null;
  readonly commitIndex: number | null;
  readonly appliedIndex: number | null;
  readonly lastIndex: number | null;
  readonly snapshotIndex: number | null;
  readonly revision: number | null;
  /** The leader's commit index minus this member's applied index; null without a leader. */
  readonly lag: number | null;
  readonly error: string | null;
}

/** `raftctl status -w json`: every member (sorted by name) and the leader. */
export function statusJson(rows: readonly MemberRow[]): { members: StatusJsonMember[]; leader: { name: string; term: number; commitIndex: number } | null } {
  const leader = referenceLeader(rows);
  const members = [...rows].sort((a, b) => a.name.localeCompare(b.name)).map((r): StatusJsonMember => {
    const s = r.status;
    return {
      name: r.name, clientUrl: r.clientUrl, voter: r.voter, role: s === null ? null : roleOf(r, s), term: s?.term ?? null,
      commitIndex: s?.commitIndex ?? null, appliedIndex: s?.appliedIndex ?? null, lastIndex: s?.lastIndex ?? null,
      snapshotIndex: s?.snapshotIndex ?? null, revision: s?.revision ?? null,
      lag: s === null || leader === null ? null : Math.max(0, leader.commitIndex - s.appliedIndex), error: s === null ? (r.error ?? 'no answer') : null,
    };
  });
  return { members, leader: leader === null ? null : { name: leader.name, term: leader.term, commitIndex: leader.commitIndex } };
}

/**
 * Renders the table: NAME ROLE TERM COMMIT APPLIED LAST-INDEX LAG CLIENT-URL, sorted by name. LAG
 * is the leader's commit index minus the member's applied index (`-` when no leader answered).
 * LAST-INDEX is the member's last log entry: after losing quorum for good, the survivor with the
 * highest one is the most up to date (the disaster-recovery runbook). Unreachable members show
 * their error in place of the numbers.
 */
export function renderStatusTable(rows: readonly MemberRow[]): string {
  const leader = referenceLeader(rows);
  const cells: string[][] = [['NAME', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAST-INDEX', 'LAG', 'CLIENT-URL']];
  for (const r of [...rows].sort((a, b) => a.name.localeCompare(b.name))) {
    const s = r.status;
    if (s === null) {
      cells.push([r.name, 'unreachable', '-', '-', '-', '-', '-', `${r.clientUrl || '-'} (${r.error ?? 'no answer'})`]);
      continue;
    }
    const lag = leader === null ? '-' : String(Math.max(0, leader.commitIndex - s.appliedIndex));
    cells.push([s.name, roleOf(r, s), String(s.term), String(s.commitIndex), String(s.appliedIndex), s.lastIndex === undefined ? '-' : String(s.lastIndex), lag, r.clientUrl || '-']);
  }
  const summary = leader === null ? 'no leader answered' : `leader ${leader.name}, term ${leader.term}, commit ${leader.commitIndex}`;
  return `${pad(cells)}\n${summary}\n`;
}
