// Randomized safety check of the core under drops, duplicates, reordering, partitions,
// restarts, compaction and transfers: after every step, election safety, log matching of
// committed prefixes, state machine safety and monotonic commit. Seeds print on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, cmd, text } from './harness.js';
import type { Message, Rng } from '../../../daemon/src/raft/index.js';
import { RaftError } from '../../../daemon/src/raft/index.js';

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

function rngFrom(r: () => number): Rng {
  return { intBelow: (max: number) => Math.floor(r() * max) };
}

const SEEDS = Number(process.env.RAFT_FUZZ_SEEDS ?? 120);
const STEPS = 400;

function runSeed(seed: number, preVote: boolean): void {
  const r = prng(seed * 7919 + (preVote ? 1 : 0));
  const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, 3 + Math.floor(r() * 3));
  const net = new Network(ids, () => ({ preVote, checkQuorum: preVote, maxInflightMsgs: 4, maxSizePerMsgBytes: 200, rng: rngFrom(r) }));
  const leaderOfTerm = new Map<number, string>();
  const committedAt = new Map<number, string>(); // index -> "term:data" as first seen committed
  const lastCommit = new Map<string, number>();
  let proposals = 0;
  const check = (): void => {
    for (const m of net.members.values()) {
      const st = m.node.status();
      if (st.role === 'leader') {
        const prev = leaderOfTerm.get(st.term);
        assert.ok(prev === undefined || prev === m.id, `seed ${seed}: two leaders in term ${st.term}: ${prev} and ${m.id}`);
        leaderOfTerm.set(st.term, m.id);
      }
      assert.ok(st.commit >= (lastCommit.get(m.id) ?? 0) || m.node.status().applied < (lastCommit.get(m.id) ?? 0), `seed ${seed}: commit went backwards on ${m.id}`);
      lastCommit.set(m.id, st.commit);
      for (const e of m.applied) {
        const key = `${e.term}:${text(e)}`;
        const seen = committedAt.get(e.index);
        assert.ok(seen === undefined || seen === key, `seed ${seed}: ${m.id} applied ${key} at ${e.index}, another member applied ${seen}`);
        committedAt.set(e.index, key);
      }
    }
  };
  for (let step = 0; step < STEPS; step++) {
    const x = r();
    if (x < 0.3) {
      net.tick(1, ids.filter(() => r() < 0.9));
    } else if (x < 0.45) {
      const leader = net.leaders()[0];
      if (leader !== undefined) {
        try {
          net.node(leader).propose(cmd(`p${proposals++}`));
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
    } else if (x < 0.47) {
      net.partition(ids[Math.floor(r() * ids.length)]!);
    } else if (x < 0.5) {
      net.heal();
    } else if (x < 0.51) {
      const id = ids[Math.floor(r() * ids.length)]!;
      net.process(id);
      net.restart(id);
      net.get(id).applied = [];
    } else if (x < 0.52) {
      const leader = net.leaders()[0];
      if (leader !== undefined) {
        try {
          net.node(leader).transferLeadership();
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
    } else if (x < 0.54) {
      const id = ids[Math.floor(r() * ids.length)]!;
      const m = net.get(id);
      const applied = m.node.status().applied;
      if (applied > m.disk.snapshot.index + 2) {
        const meta = m.node.compact(applied - 1);
        m.disk.snapshot = meta;
        m.disk.entries = m.disk.entries.filter((e) => e.index > meta.index);
      }
    } else if (x < 0.56) {
      const id = ids[Math.floor(r() * ids.length)]!;
      try {
        net.node(id).readIndex(step);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
      }
    } else {
      for (const id of ids) if (r() < 0.7) net.process(id);
      // Deliver a random subset in random order; drop some, duplicate some.
      const q = net.queue;
      net.queue = [];
      const keep: Message[] = [];
      for (const msg of q) {
        const y = r();
        if (y < 0.1) continue; // drop
        if (y < 0.5) {
          keep.push(msg);
          continue;
        }
        net.queue = [msg];
        net.deliver();
        if (y > 0.97) {
          net.queue = [msg];
          net.deliver(); // duplicate
        }
      }
      net.queue = keep.sort(() => r() - 0.5);
    }
    check();
  }
  // Liveness: heal, quiet down, and a leader commits a final entry everywhere.
  net.heal();
  for (let i = 0; i < 200 && net.leaders().length !== 1; i++) {
    net.tick(1);
    net.stabilize(500);
  }
  check();
  const leaders = net.leaders();
  assert.equal(leaders.length, 1, `seed ${seed}: no single leader after healing`);
  const dump = (): string => ids.map((id) => JSON.stringify(net.node(id).status(), (_k, v: unknown) => (v instanceof Map ? [...v] : v))).join('\n');
  let done = false;
  for (let round = 0; round < 20 && !done; round++) {
    const l = net.leaders()[0];
    let pos: { index: number; term: number } | null = null;
    try {
      if (l !== undefined) pos = net.node(l).propose(cmd(`final${round}`));
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
    }
    for (let i = 0; i < 10; i++) {
      net.tick(1);
      net.stabilize(500);
    }
    check();
    if (pos === null) continue;
    const p = pos;
    done = ids.every((id) => net.node(id).status().commit >= p.index && net.get(id).applied.some((e) => e.index === p.index && e.term === p.term));
  }
  assert.ok(done, `seed ${seed}: no final entry committed everywhere\n${dump()}`);
}

test(`randomized safety: ${SEEDS} seeds x ${STEPS} steps, plain and with pre-vote + check-quorum`, () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    runSeed(seed, false);
    runSeed(seed, true);
  }
});
