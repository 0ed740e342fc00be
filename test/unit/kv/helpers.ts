// Test driver: feeds a KvStateMachine commands at consecutive raft indexes with a settable clock.
import { encodeCommand, KvStateMachine, type ApplyResult, type KvCommand, type KvStateMachineOptions } from '../../../daemon/src/kv/index.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

type NoMeta<T> = T extends KvCommand ? Omit<T, 'proposedAtMs'> & { proposedAtMs?: number } : never;

/** A state machine plus the index/term/clock a leader would stamp. */
export class Feeder {
  readonly sm: KvStateMachine;
  index = 0;
  term = 1;
  nowMs = 1_000_000;
  /** Every entry fed, to replay into another machine. */
  readonly log: { index: number; term: number; data: Uint8Array }[] = [];

  constructor(opts: KvStateMachineOptions = {}) {
    this.sm = new KvStateMachine({ scheduleWatchFlush: () => {}, ...opts });
  }

  cmd(c: NoMeta<KvCommand>): ApplyResult {
    const full = { proposedAtMs: this.nowMs, ...c } as KvCommand;
    return this.raw(encodeCommand(full));
  }

  raw(data: Uint8Array): ApplyResult {
    this.index++;
    this.log.push({ index: this.index, term: this.term, data });
    return this.sm.apply(this.index, this.term, data);
  }

  put(key: string, value: string, extra: Partial<Omit<NoMeta<KvCommand & { op: 'put' }>, 'op' | 'key' | 'value'>> = {}): ApplyResult {
    return this.cmd({ op: 'put', key, value: enc(value), ...extra });
  }

  del(key: string, extra: Partial<Omit<NoMeta<KvCommand & { op: 'delete' }>, 'op' | 'key'>> = {}): ApplyResult {
    return this.cmd({ op: 'delete', key, ...extra });
  }
}

/** Narrows an ApplyResult to success of a kind, failing the test otherwise. */
export function okKind<K extends string>(r: ApplyResult, kind: K): Extract<ApplyResult, { kind: K }> {
  if (!r.ok) throw new Error(`expected ${kind}, got failure ${r.code}: ${r.message}`);
  if (r.kind !== kind) throw new Error(`expected ${kind}, got ${r.kind}`);
  return r as Extract<ApplyResult, { kind: K }>;
}

/** Expects a failure with the given code. */
export function failCode(r: ApplyResult, code: string): Extract<ApplyResult, { ok: false }> {
  if (r.ok) throw new Error(`expected failure ${code}, got ${r.kind}`);
  if (r.code !== code) throw new Error(`expected ${code}, got ${r.code}: ${r.message}`);
  return r;
}
