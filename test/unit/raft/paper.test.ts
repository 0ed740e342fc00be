// The Raft paper's figures as scripts: §5.3 Figure 7 (a new leader repairs any follower log),
// §5.4.2 Figure 8 (never commit an earlier term's entry by counting replicas), and fast
// log backtracking (§5.3, "the follower can include the term of the conflicting entry").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, cmd, entry } from './harness.js';
import type { Entry } from '../../../daemon/src/raft/index.js';

function logOf(terms: readonly number[]): Entry[] {
  return terms.map((t, i) => entry(i + 1, t, `t${t}i${i + 1}`));
}

const FIG7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const FIG7_FOLLOWERS: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

for (const [name, terms] of Object.entries(FIG7_FOLLOWERS)) {
  test(`§5.3 Figure 7 (${name}): the term-8 leader makes follower ${name}'s log identical to its own`, () => {
    const conf = { voters: ['L', 'F', 'V'], learners: [] as string[] };
    const net = new Network([]);
    const snap = { index: 0, term: 0, confState: conf };
    net.add('L', conf, {}, { hardState: { term: 7, vote: '', commit: 0 }, snapshot: snap, entries: logOf(FIG7_LEADER) });
    net.add('F', conf, {}, { hardState: { term: 7, vote: '', commit: 0 }, snapshot: snap, entries: logOf(terms) });
    // V has an empty log and grants the vote, so L can win even against a longer log.
    net.add('V', conf, {}, { hardState: { term: 7, vote: '', commit: 0 }, snapshot: snap, entries: [] });
    net.node('L').campaign();
    net.processAll();
    net.deliver(is.to('V'));
    net.drop(is.and(is.type(MessageType.Vote), is.to('F')));
    net.processAll();
    net.deliver(is.from('V'));
    assert.equal(net.node('L').status().role, 'leader');
    assert.equal(net.node('L').status().term, 8);
    net.stabilize();
    const leaderLog = net.get('L').disk.entries.map((e) => [e.index, e.term, e.type]);
    assert.equal(leaderLog.length, 11, 'the ten entries plus the term-8 noop');
    assert.deepEqual(net.get('F').disk.entries.map((e) => [e.index, e.term, e.type]), leaderLog);
    assert.equal(net.node('F').status().commit, 11);
  });
}

test('§5.4.2 Figure 8: a leader does not commit an entry of an earlier term by counting replicas', () => {
  // Scripted precisely: a leads term 2 with [1(t1) 2(t1) 3(t2 noop)]; b acks index 2 only.
  const script = (broken: boolean): { atOldQuorum: number; final: number } => {
    const over = { maxSizePerMsgBytes: 1, brokenVariants: { commitPreviousTermByCount: broken } };
    const net = new Network(['a', 'b', 'c'], () => over);
    net.elect('a');
    net.node('a').propose(cmd('old'));
    net.processAll();
    net.drop(() => true);
    net.restart('a', over);
    net.node('a').campaign();
    net.processAll();
    net.deliver(is.type(MessageType.Vote));
    net.processAll();
    net.deliver(is.type(MessageType.VoteResp));
    assert.equal(net.node('a').status().role, 'leader');
    assert.equal(net.node('a').status().term, 2);
    net.process('a'); // persists the noop (index 3, term 2); probes b and c at prev (2, 1)
    net.drop(is.to('c'));
    net.deliver(is.to('b')); // b lacks index 2: rejects
    net.process('b');
    net.deliver(is.to('a'));
    net.process('a'); // resends from index 2: one entry (the old one)
    const resend = net.queue.filter(is.and(is.type(MessageType.Append), is.to('b')));
    assert.deepEqual(resend.map((m) => m.entries.map((e) => [e.index, e.term])), [[[2, 1]]]);
    net.deliver(is.to('b'));
    net.process('b');
    net.deliver(is.and(is.to('a'), is.type(MessageType.AppendResp)));
    const atOldQuorum = net.node('a').status().commit; // index 2 (term 1) is on a and b: a quorum
    net.drop(is.to('c'));
    for (let i = 0; i < 10; i++) {
      net.processAll();
      net.drop(is.to('c'));
      net.deliver();
    }
    return { atOldQuorum, final: net.node('a').status().commit };
  };
  const correct = script(false);
  assert.equal(correct.atOldQuorum, 1, 'the term-1 entry on a quorum is NOT committed by counting');
  assert.equal(correct.final, 3, 'it commits once the term-2 noop reaches a quorum');
  const broken = script(true);
  assert.equal(broken.atOldQuorum, 2, 'the broken variant commits it by counting (the checker must catch this)');
});

test('§5.3 fast backtracking: the leader skips a whole conflicting term per round trip', () => {
  const conf = { voters: ['L', 'F', 'V'], learners: [] as string[] };
  const snap = { index: 0, term: 0, confState: conf };
  // F holds 50 entries of term 2 after index 1 that the term-3 leader never had.
  const fTerms = [1, ...new Array<number>(50).fill(2)];
  const lTerms = [1, 3, 3, 3];
  const net = new Network([]);
  net.add('L', conf, {}, { hardState: { term: 3, vote: '', commit: 1 }, snapshot: snap, entries: logOf(lTerms) });
  net.add('F', conf, {}, { hardState: { term: 2, vote: '', commit: 1 }, snapshot: snap, entries: logOf(fTerms) });
  net.add('V', conf, {}, { hardState: { term: 3, vote: '', commit: 1 }, snapshot: snap, entries: logOf(lTerms) });
  net.node('L').campaign();
  net.processAll();
  net.deliver(is.to('V'));
  net.drop(is.to('F'));
  net.processAll();
  net.deliver();
  assert.equal(net.node('L').status().role, 'leader');
  net.stabilize();
  const rejects = net.sent.filter((m) => m.from === 'F' && m.type === MessageType.AppendResp && m.reject);
  assert.ok(rejects.length <= 2, `expected at most 2 rejections, got ${rejects.length}`);
  assert.deepEqual(net.get('F').disk.entries.map((e) => e.term), [1, 3, 3, 3, 4]);
});

test('§5.4.2 Figure 8 (a)-(e): counting replicas of an old-term entry lets a committed entry be overwritten', () => {
  const run = (broken: boolean) => {
    const over = { maxSizePerMsgBytes: 1, brokenVariants: { commitPreviousTermByCount: broken } };
    const net = new Network(['a', 'b', 'c', 'd', 'e'], () => over);
    const win = (id: string): void => {
      for (let i = 0; i < 3 && net.node(id).status().role !== 'leader'; i++) {
        net.node(id).campaign();
        net.processAll();
        net.deliver(is.type(MessageType.Vote));
        net.processAll();
        net.deliver(is.type(MessageType.VoteResp));
      }
      assert.equal(net.node(id).status().role, 'leader', `${id} should win`);
    };
    net.elect('a');
    // (a) a (term 1) replicates X at index 2 to b only.
    net.node('a').propose(cmd('X'));
    net.process('a');
    net.deliver(is.to('b'));
    net.process('b');
    net.drop(() => true);
    // (b) a crashes; e wins term 2 with c and d, appends its noop at index 2, which reaches no one.
    net.restart('a', over);
    net.partition('a');
    win('e');
    assert.equal(net.node('e').status().term, 2);
    net.process('e');
    net.drop(() => true);
    // (c) a wins term 3 (b, c, d) and gets index 2 (term 1) onto c: a, b, c hold it.
    net.heal();
    net.partition('e');
    win('a');
    assert.equal(net.node('a').status().term, 3);
    for (let i = 0; i < 6; i++) {
      net.processAll();
      net.drop(is.to('d'));
      // c may see the term-3 noop only while it cannot accept it (its probe must be rejected).
      net.drop(is.and(is.to('c'), (m) => net.node('c').status().lastIndex >= 2 && m.entries.some((e) => e.index === 3)));
      net.deliver();
    }
    net.processAll();
    net.drop(() => true);
    assert.equal(net.node('c').status().lastIndex, 2);
    const aApplied = net.get('a').applied.map((e) => [e.index, e.term]);
    // (d) a crashes; e wins term 4 with c and d and overwrites index 2 everywhere it can.
    net.heal();
    net.partition('a');
    net.restart('e', over); // e, cut off as a stale term-2 leader, restarts
    win('e');
    assert.equal(net.node('e').status().term, 4);
    net.stabilize();
    const cApplied = net.get('c').applied.map((e) => [e.index, e.term]);
    return { aApplied, cApplied, aCommitBeforeCrash: aApplied.length };
  };
  const ok = run(false);
  assert.deepEqual(ok.aApplied, [[1, 1]], 'correct: index 2 (term 1) was never committed by counting');
  assert.deepEqual(ok.cApplied.slice(0, 2), [[1, 1], [2, 2]]);
  const bad = run(true);
  assert.deepEqual(bad.aApplied, [[1, 1], [2, 1]], 'broken: a applied index 2 from term 1');
  assert.deepEqual(bad.cApplied.slice(0, 2), [[1, 1], [2, 2]], 'and c applied a different entry at index 2: state machine safety is violated');
});
