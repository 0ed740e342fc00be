// Measures what one idempotency entry and one client session cost in V8's heap, so the
// accounting constants in daemon/src/kv/limits.ts (IDEMPOTENCY_ENTRY_BASE_BYTES, SESSION_BYTES)
// stay honest. Run: node --expose-gc dist/bench/window-memory.js [entries]
// Method: apply N keyed puts of one key (the KV data does not grow; watch history is 1 event)
// to a fresh state machine, force GC before and after, divide the heap growth by N; the same
// for N session opens each followed by one sessioned write (so each session holds an answer).
import { encodeCommand, KvStateMachine, idempotencyEntryBytes, IDEMPOTENCY_ENTRY_BASE_BYTES, SESSION_BYTES } from '../daemon/src/kv/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}
const collect = gc;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) collect();
  return process.memoryUsage().heapUsed;
}

const n = Number(process.argv[2] ?? 200_000);
const value = new Uint8Array(8);
const limits = { maxWatchHistoryEvents: 1, idempotencyBudgetBytes: 64 * 1024 ** 3, maxSessions: 10_000_000 };

function measureEntries(): { heapPerEntry: number; accountedPerEntry: number; keyChars: number } {
  const sm = new KvStateMachine({ limits, scheduleWatchFlush: () => {} });
  // Keys as clients make them: a UUID (36 characters).
  const keys = Array.from({ length: n }, (_, i) => `0badc0de-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);
  const cmds = keys.map((k, i) => encodeCommand({ op: 'put', key: 'k', value, proposedAtMs: 1_700_000_000_000 + i, idempotencyKey: k }));
  let index = 0;
  sm.apply(++index, 1, encodeCommand({ op: 'put', key: 'k', value, proposedAtMs: 1_700_000_000_000 }));
  const before = heapAfterGc();
  for (const c of cmds) sm.apply(++index, 1, c);
  const after = heapAfterGc();
  // The commands were allocated before `before` and are kept alive past `after` (read below),
  // so the growth is the table alone: entries, their key strings (decoded copies) and Map slots.
  if (sm.idempotencyEntries !== n || cmds.length !== n) throw new Error(`expected ${n} entries, have ${sm.idempotencyEntries}`);
  const keyChars = keys[0]?.length ?? 0;
  return { heapPerEntry: (after - before) / n, accountedPerEntry: sm.idempotencyBytes / n, keyChars };
}

function measureSessions(): { heapPerSession: number } {
  const sm = new KvStateMachine({ limits, scheduleWatchFlush: () => {} });
  const opens = Array.from({ length: n }, (_, i) => encodeCommand({ op: 'sessionOpen', proposedAtMs: 1_700_000_000_000 + i, maxSessions: 10_000_000 }));
  let index = 0;
  sm.apply(++index, 1, encodeCommand({ op: 'put', key: 'k', value, proposedAtMs: 1_700_000_000_000 }));
  const writes = Array.from({ length: n }, (_, i) => encodeCommand({ op: 'put', key: 'k', value, proposedAtMs: 1_700_000_000_000 + n + i, session: { id: index + 1 + i, seq: 1 } }));
  const before = heapAfterGc();
  for (const c of opens) sm.apply(++index, 1, c);
  for (const c of writes) sm.apply(++index, 1, c);
  const after = heapAfterGc();
  if (opens.length + writes.length !== 2 * n) throw new Error('unreachable');
  if (sm.sessionCount !== n) throw new Error(`expected ${n} sessions, have ${sm.sessionCount}`);
  return { heapPerSession: (after - before) / n };
}

// Sessions first: each measurement in a clean heap would be better still, but the order matters
// less than keeping each one's inputs alive across its own measurement.
const s = measureSessions();
const e = measureEntries();
const out = {
  node: process.version,
  entries: n,
  keyChars: e.keyChars,
  idempotencyHeapBytesPerEntry: Math.round(e.heapPerEntry),
  idempotencyAccountedBytesPerEntry: Math.round(e.accountedPerEntry),
  accountedFormula: `${IDEMPOTENCY_ENTRY_BASE_BYTES} + key characters (${idempotencyEntryBytes('x'.repeat(e.keyChars))} for a ${e.keyChars}-character key)`,
  sessionHeapBytesPerSession: Math.round(s.heapPerSession),
  sessionAccountedBytes: SESSION_BYTES,
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
