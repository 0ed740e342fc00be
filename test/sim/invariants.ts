// The Raft safety properties, checked incrementally as the simulator observes members persist,
// commit, elect and apply. Each observation is O(what changed), so every step of every run is
// checked; a violation throws PropertyViolation naming the property. Pure bookkeeping with no
// reference to the simulator, so unit tests can feed it hand-made violating states.

/** The properties a run can violate. */
export type Property =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'commit-monotonic'
  | 'applied-le-committed'
  /** A client's command (client, sequence number) took effect at two log indexes. */
  | 'exactly-once'
  | 'linearizability'
  | 'liveness'
  /** The core stopped itself on an internal assertion (RaftInvariantError). */
  | 'core-invariant'
  /** The simulator itself misbehaved (a bug in the test, not in raft). */
  | 'sim-error';

/** A violated property; `detail` says where and how. */
export class PropertyViolation extends Error {
  constructor(
    readonly property: Property,
    readonly detail: string,
  ) {
    super(`${property}: ${detail}`);
    this.name = 'PropertyViolation';
  }
}

/** What the checker needs to see of one member's durable log. */
export interface LogView {
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** Term of the entry at `index`; the snapshot term at snapshotIndex; undefined if not held. */
  termAt(index: number): number | undefined;
  /** Digest of the entry at `index` (type and data); undefined if not held as an entry. */
  digestAt(index: number): number | undefined;
  lastIndex(): number;
}

/** An entry as the checker sees it: position and identity. */
export interface EntryId {
  readonly index: number;
  readonly term: number;
  readonly digest: number;
}

interface CommittedRecord {
  readonly term: number;
  readonly digest: number | undefined;
  /** Term of the member that first reported it committed (the committing leader's term). */
  readonly commitTerm: number;
  readonly by: string;
}

interface AppliedRecord {
  readonly term: number;
  readonly digest: number;
  readonly by: string;
}

/**
 * Incremental checker of: election safety (one leader per term), log matching (same index and
 * term means same entry and same predecessor term, hence identical prefixes by induction),
 * leader completeness (a leader holds every entry committed in earlier terms), state machine
 * safety (one entry per index across all members' applies), commit monotonic per member (also
 * across restarts) and applied <= committed.
 */
export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, string>();
  /** "index:term" → identity of the entry first persisted there. */
  private readonly persisted = new Map<string, { digest: number; prevTerm: number | undefined; by: string }>();
  /** Dense by index. */
  private readonly committed: (CommittedRecord | undefined)[] = [];
  private readonly applied: (AppliedRecord | undefined)[] = [];
  private readonly commitOf = new Map<string, number>();
  /** "client:seq" → the log index where that command took effect. */
  private readonly executedAt = new Map<string, number>();

  /** Highest index known committed anywhere. */
  get maxCommitted(): number {
    return this.committed.length - 1;
  }

  /** The leader elected for `term`, if seen. */
  leaderOf(term: number): string | undefined {
    return this.leaderOfTerm.get(term);
  }

  /** `node` became leader of `term`; `log` is its durable log at that moment. */
  leaderElected(node: string, term: number, log: LogView): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== node) throw new PropertyViolation('election-safety', `term ${term} has two leaders: ${prev} and ${node}`);
    this.leaderOfTerm.set(term, node);
    for (let i = Math.max(1, log.snapshotIndex); i < this.committed.length; i++) {
      const rec = this.committed[i];
      if (rec === undefined || rec.commitTerm >= term) continue;
      const t = log.termAt(i);
      if (t !== rec.term) {
        throw new PropertyViolation('leader-completeness', `${node} leads term ${term} without index ${i} (term ${rec.term}, committed in term ${rec.commitTerm} seen at ${rec.by}); it holds term ${t ?? 'none'}`);
      }
      const d = i === log.snapshotIndex ? undefined : log.digestAt(i);
      if (d !== undefined && rec.digest !== undefined && d !== rec.digest) {
        throw new PropertyViolation('leader-completeness', `${node} leads term ${term} with a different entry at committed index ${i}`);
      }
    }
  }

  /**
   * `node` durably wrote `entries` (contiguous), the first following an entry of term
   * `prevTerm` (undefined when the predecessor is not held, e.g. below its snapshot).
   */
  entriesPersisted(node: string, entries: readonly EntryId[], prevTerm: number | undefined): void {
    let before = prevTerm;
    for (const e of entries) {
      const k = `${e.index}:${e.term}`;
      const rec = this.persisted.get(k);
      if (rec === undefined) {
        this.persisted.set(k, { digest: e.digest, prevTerm: before, by: node });
      } else {
        if (rec.digest !== e.digest) {
          throw new PropertyViolation('log-matching', `index ${e.index} term ${e.term} holds different entries at ${rec.by} and ${node}`);
        }
        if (rec.prevTerm !== undefined && before !== undefined && rec.prevTerm !== before) {
          throw new PropertyViolation('log-matching', `index ${e.index} term ${e.term} follows term ${rec.prevTerm} at ${rec.by} but term ${before} at ${node}`);
        }
      }
      before = e.term;
    }
  }

  /**
   * `node` (in `term`) durably recorded commit index `commit`; `log` is its durable log.
   * Checks commit never decreases for the member and records the newly committed entries.
   */
  commitPersisted(node: string, term: number, commit: number, log: LogView): void {
    const old = this.commitOf.get(node) ?? 0;
    if (commit < old) throw new PropertyViolation('commit-monotonic', `${node} commit went back from ${old} to ${commit}`);
    this.commitOf.set(node, commit);
    for (let i = Math.max(old + 1, log.snapshotIndex); i <= commit; i++) {
      const t = log.termAt(i);
      if (t === undefined) continue;
      const d = i === log.snapshotIndex ? undefined : log.digestAt(i);
      const rec = this.committed[i];
      if (rec === undefined) {
        while (this.committed.length < i) this.committed.push(undefined);
        this.committed[i] = { term: t, digest: d, commitTerm: term, by: node };
        continue;
      }
      if (rec.term !== t || (d !== undefined && rec.digest !== undefined && d !== rec.digest)) {
        throw new PropertyViolation('state-machine-safety', `index ${i} committed as term ${rec.term} at ${rec.by} but as term ${t} at ${node}`);
      }
      if (rec.digest === undefined && d !== undefined) this.committed[i] = { ...rec, digest: d };
    }
  }

  /** `node` applied the entry `e` to its state machine. */
  entryApplied(node: string, e: EntryId): void {
    const rec = this.applied[e.index];
    if (rec === undefined) {
      while (this.applied.length < e.index) this.applied.push(undefined);
      this.applied[e.index] = { term: e.term, digest: e.digest, by: node };
    } else if (rec.term !== e.term || rec.digest !== e.digest) {
      throw new PropertyViolation('state-machine-safety', `index ${e.index}: ${rec.by} applied term ${rec.term}, ${node} applied term ${e.term} (different entries)`);
    }
    const c = this.committed[e.index];
    if (c !== undefined && (c.term !== e.term || (c.digest !== undefined && c.digest !== e.digest))) {
      throw new PropertyViolation('state-machine-safety', `${node} applied term ${e.term} at index ${e.index}, committed as term ${c.term} at ${c.by}`);
    }
  }

  /** `node` installed a snapshot whose last entry is (index, term). */
  snapshotInstalled(node: string, index: number, term: number): void {
    const a = this.applied[index];
    if (a !== undefined && a.term !== term) throw new PropertyViolation('state-machine-safety', `${node} installed a snapshot at ${index} term ${term}; ${a.by} applied term ${a.term} there`);
    const c = this.committed[index];
    if (c !== undefined && c.term !== term) throw new PropertyViolation('state-machine-safety', `${node} installed a snapshot at ${index} term ${term}; committed as term ${c.term}`);
  }

  /**
   * A command of `client` numbered `seq` took effect (changed or was judged against the state)
   * at `index` on some member. Every member applies the same entry there, so a second index is
   * a retry applied twice.
   */
  executed(client: number, seq: number, index: number, node: string): void {
    const key = `${client}:${seq}`;
    const at = this.executedAt.get(key);
    if (at === undefined) this.executedAt.set(key, index);
    else if (at !== index) throw new PropertyViolation('exactly-once', `client ${client} command ${seq} took effect at index ${at} and again at ${index} (on ${node})`);
  }

  /** Checks `applied <= commit` for one member. */
  appliedWithinCommit(node: string, applied: number, commit: number): void {
    if (applied > commit) throw new PropertyViolation('applied-le-committed', `${node} applied ${applied} beyond its commit ${commit}`);
  }

  /** `node` starts over with an empty log (re-added after removal): forget its commit floor. */
  memberReset(node: string): void {
    this.commitOf.delete(node);
  }
}
