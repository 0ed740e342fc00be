// A linearizability checker for histories of register operations (read / write / compare-and-
// set on string keys), in the style of Wing & Gong with Lowe's memoisation: depth-first search
// over which pending operation takes effect next, remembering every (set of linearized
// operations, register value) already explored. Keys are independent registers, so the history
// is split by key and each key checked alone (P-compositionality). A bound on explored states
// per key turns a search that would take too long into the verdict 'unknown' instead of hanging.
//
// Shared by the deterministic simulator (logical time) and the chaos harness on real processes
// (wall-clock milliseconds): times are plain numbers, only their order matters.

/** What the client saw. */
export type OpOutcome =
  /** The operation took effect (a read returned `value`; a cas swapped). */
  | 'ok'
  /** The operation definitely did not take effect (refused, cas mismatch): it is ignored. */
  | 'fail'
  /** Unknown (timeout, lost connection): a write/cas may or may not have taken effect, at any time after its invocation; a read is ignored. */
  | 'info';

/** One client operation on one register. */
export interface RegisterOp {
  /** Which client issued it (for messages only; a client's operations need not be sequential). */
  readonly process: number;
  readonly key: string;
  readonly f: 'read' | 'write' | 'cas';
  /** write/cas: the value written; read with outcome ok: the value read (null = absent). */
  readonly value: string | null;
  /** cas: the value the register must hold for the swap (null = absent). */
  readonly expected?: string | null;
  /** When the client invoked it. */
  readonly invoke: number;
  /** When the client saw the outcome (ignored for 'info': it never completed). Must be >= invoke. */
  readonly complete: number;
  readonly outcome: OpOutcome;
}

export interface CheckOptions {
  /** Bound on search states explored per key before the verdict is 'unknown'. */
  readonly maxStatesPerKey?: number;
  /** The value every register holds before the history (default null = absent). */
  readonly initialValue?: string | null;
}

/** The verdict for one key. */
export interface KeyResult {
  readonly key: string;
  readonly result: 'ok' | 'violation' | 'unknown';
  /** Operations considered (after dropping failed ops and unknown reads). */
  readonly ops: number;
  readonly statesExplored: number;
  /** violation: the completed operation no explored order could place, with the values possible just before it. */
  readonly stuckAt?: RegisterOp;
  readonly possibleValues?: readonly (string | null)[];
}

export interface CheckResult {
  /** 'violation' if any key is not linearizable; else 'unknown' if any key hit the bound; else 'ok'. */
  readonly result: 'ok' | 'violation' | 'unknown';
  readonly keys: readonly KeyResult[];
  /** Human-readable summary of the first violation (or unknown). */
  readonly message: string;
}

export const DEFAULT_MAX_STATES_PER_KEY = 2_000_000;

/** Checks a whole history (any mix of keys). */
export function checkLinearizable(history: readonly RegisterOp[], options: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, RegisterOp[]>();
  for (const op of history) {
    if (op.outcome !== 'info' && op.complete < op.invoke) throw new Error(`operation completes (${op.complete}) before it is invoked (${op.invoke})`);
    let list = byKey.get(op.key);
    if (list === undefined) {
      list = [];
      byKey.set(op.key, list);
    }
    list.push(op);
  }
  const keys: KeyResult[] = [];
  for (const key of [...byKey.keys()].sort()) keys.push(checkKey(key, byKey.get(key) ?? [], options));
  const bad = keys.find((k) => k.result === 'violation');
  if (bad !== undefined) {
    const op = bad.stuckAt;
    const what = op === undefined ? '' : ` at ${describeOp(op)}; possible values before it: ${JSON.stringify(bad.possibleValues ?? [])}`;
    return { result: 'violation', keys, message: `key ${bad.key} is not linearizable${what}` };
  }
  const unknown = keys.find((k) => k.result === 'unknown');
  if (unknown !== undefined) {
    return { result: 'unknown', keys, message: `key ${unknown.key}: search bound reached after ${unknown.statesExplored} states` };
  }
  return { result: 'ok', keys, message: `${keys.length} keys linearizable` };
}

/** One line describing an operation, for failure reports. */
export function describeOp(op: RegisterOp): string {
  const v = (x: string | null | undefined): string => (x === null || x === undefined ? 'nil' : x);
  const body = op.f === 'cas' ? `cas(${v(op.expected)}->${v(op.value)})` : op.f === 'write' ? `write(${v(op.value)})` : `read()=${v(op.value)}`;
  const end = op.outcome === 'info' ? '?' : String(op.complete);
  return `p${op.process} ${op.key} ${body} ${op.outcome} [${op.invoke}..${end}]`;
}

interface Op {
  readonly src: RegisterOp;
  readonly invoke: number;
  /** Infinity for an operation that never completed. */
  readonly complete: number;
  readonly required: boolean;
}

/** The register's transition; undefined if `op` cannot take effect in state `s`. */
function apply(s: string | null, op: RegisterOp): string | null | undefined {
  switch (op.f) {
    case 'read':
      return op.value === s ? s : undefined;
    case 'write':
      return op.value;
    case 'cas':
      return (op.expected ?? null) === s ? op.value : undefined;
  }
}

interface Frame {
  /** Candidates at this node, and which one to try next. */
  readonly candidates: number[];
  next: number;
  readonly state: string | null;
  /** The candidate this frame linearized to reach its child (-1 = none yet). */
  chosen: number;
}

function checkKey(key: string, raw: readonly RegisterOp[], options: CheckOptions): KeyResult {
  const maxStates = options.maxStatesPerKey ?? DEFAULT_MAX_STATES_PER_KEY;
  // Values some completed operation saw: an ok read's result, any cas's expected value.
  const observed = new Set<string | null>();
  for (const o of raw) {
    if (o.f === 'read' && o.outcome === 'ok') observed.add(o.value);
    if (o.f === 'cas' && o.outcome !== 'fail') observed.add(o.expected ?? null);
  }
  const ops: Op[] = [];
  for (const o of raw) {
    if (o.outcome === 'fail') continue;
    if (o.outcome === 'info' && o.f === 'read') continue; // an unanswered read changes nothing
    // An indeterminate write/cas whose value nobody saw can be left out: in any linearization
    // that includes it, the next operation to depend on the register reads or expects some
    // other value, so only a write can follow it, and dropping it leaves a valid order. Without
    // this, every unanswered write doubles the search (it stays a candidate to the end).
    if (o.outcome === 'info' && !observed.has(o.value)) continue;
    ops.push({ src: o, invoke: o.invoke, complete: o.outcome === 'info' ? Infinity : o.complete, required: o.outcome === 'ok' });
  }
  ops.sort((a, b) => a.invoke - b.invoke || a.complete - b.complete);
  const n = ops.length;
  let requiredLeft = 0;
  for (const o of ops) if (o.required) requiredLeft++;
  const done = new Uint8Array(n);
  // Every op before `lo` is linearized (the search front).
  let lo = 0;
  const seen = new Set<string>();
  let states = 0;
  // For the report: the deepest point reached (most required ops linearized).
  let bestRequired = requiredLeft;
  let bestStuck: Op | undefined;
  let bestValues = new Set<string | null>();

  const memoKey = (state: string | null): string => {
    // The linearized ops past the front identify the set (all before it are linearized).
    let k = `${lo}|${state === null ? '\u0000' : state}|`;
    // A linearized op was a candidate while op `lo` was pending, so it was invoked before lo completed.
    const bound = lo < n ? (ops[lo] as Op).complete : Infinity;
    for (let i = lo + 1; i < n; i++) {
      const o = ops[i] as Op;
      if (o.invoke > bound) break;
      if (done[i] === 1) k += `${i},`;
    }
    return k;
  };

  /** Ops that may take effect next: none un-linearized completed strictly before their invocation. */
  const candidatesAt = (): { cands: number[]; stuck: Op | undefined } => {
    let minComplete = Infinity;
    let stuck: Op | undefined;
    for (let i = lo; i < n; i++) {
      const o = ops[i] as Op;
      if (o.invoke > minComplete) break;
      if (done[i] === 0 && o.complete < minComplete) {
        minComplete = o.complete;
        stuck = o;
      }
    }
    const cands: number[] = [];
    for (let i = lo; i < n; i++) {
      const o = ops[i] as Op;
      if (o.invoke > minComplete) break;
      if (done[i] === 0) cands.push(i);
    }
    return { cands, stuck };
  };

  const initial = options.initialValue ?? null;
  const stack: Frame[] = [];
  const push = (state: string | null): boolean => {
    const k = memoKey(state);
    if (seen.has(k)) return false;
    seen.add(k);
    states++;
    const { cands, stuck } = candidatesAt();
    if (requiredLeft < bestRequired || (requiredLeft === bestRequired && bestStuck === undefined)) {
      bestRequired = requiredLeft;
      bestStuck = stuck;
      bestValues = new Set([state]);
    } else if (requiredLeft === bestRequired) {
      bestValues.add(state);
    }
    stack.push({ candidates: cands, next: 0, state, chosen: -1 });
    return true;
  };
  const mark = (i: number, on: boolean): void => {
    done[i] = on ? 1 : 0;
    if ((ops[i] as Op).required) requiredLeft += on ? -1 : 1;
    if (on) {
      while (lo < n && done[lo] === 1) lo++;
    } else if (i < lo) {
      lo = i;
    }
  };

  push(initial);
  while (stack.length > 0) {
    if (requiredLeft === 0) return { key, result: 'ok', ops: n, statesExplored: states };
    if (states > maxStates) return { key, result: 'unknown', ops: n, statesExplored: states };
    const top = stack[stack.length - 1] as Frame;
    if (top.chosen >= 0) {
      mark(top.chosen, false);
      top.chosen = -1;
    }
    let advanced = false;
    while (top.next < top.candidates.length) {
      const i = top.candidates[top.next++] as number;
      const after = apply(top.state, (ops[i] as Op).src);
      if (after === undefined) continue;
      mark(i, true);
      top.chosen = i;
      if (requiredLeft === 0) return { key, result: 'ok', ops: n, statesExplored: states };
      if (push(after)) {
        advanced = true;
        break;
      }
      mark(i, false);
      top.chosen = -1;
    }
    if (!advanced && top.chosen < 0) stack.pop();
  }
  if (requiredLeft === 0) return { key, result: 'ok', ops: n, statesExplored: states };
  const res: KeyResult = { key, result: 'violation', ops: n, statesExplored: states, possibleValues: [...bestValues] };
  return bestStuck === undefined ? res : { ...res, stuckAt: bestStuck.src };
}
