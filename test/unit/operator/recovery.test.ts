// The quorum-loss recovery planner (planner/recovery.ts), step by step from 1 survivor of 3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecoveryStatus } from '../../../operator/src/api/types.js';
import type { ObservedMember } from '../../../operator/src/planner/planner.js';
import type { AnsweringMember, RecoveryDecision, RecoveryInput } from '../../../operator/src/planner/recovery.js';
import { pickSurvivor, planRecovery } from '../../../operator/src/planner/recovery.js';

const name = (i: number): string => `kv-${i}`;
const ordinalOf = (m: string): number | undefined => (/^kv-(\d+)$/.test(m) ? Number(m.slice(3)) : undefined);
const lastKnown = [{ name: 'kv-0', voter: true, appliedIndex: 90 }, { name: 'kv-1', voter: true, appliedIndex: 120 }, { name: 'kv-2', voter: true, appliedIndex: 118 }];
const pods = [0, 1, 2].map((i) => ({ name: name(i), ready: true, outdated: false }));

function input(over: Partial<RecoveryInput>): RecoveryInput {
  return {
    approval: { forceNewCluster: true }, record: undefined, desiredReplicas: 3, leader: undefined, commitIndex: 0, members: [], lastKnown,
    answered: new Map<string, AnsweringMember>([['kv-0', { role: 'candidate', appliedIndex: 100, lastIndex: 104, term: 7 }]]),
    pods, learnerMaxLagEntries: 10, memberNameOf: name, ordinalOf, newId: 'g3-1000', nowIso: '2026-12-05T02:00:00Z', ...over,
  };
}

function stepOf(d: RecoveryDecision): { step: string; record: RecoveryStatus | undefined } {
  assert.equal(d.kind, 'step', JSON.stringify(d));
  if (d.kind !== 'step') throw new Error('unreachable');
  const s = d.step;
  const what = s.kind === 'refuse' ? `refuse ${s.reason}` : s.kind === 'forceNewCluster' ? `force ${s.member} ${s.id}` : 'member' in s ? `${s.kind} ${s.member}` : s.kind;
  return { step: what, record: d.record };
}

const voter = (i: number, healthy = true, appliedIndex = 104): ObservedMember => ({ name: name(i), ordinal: i, voter: true, healthy, role: i === 0 ? 'leader' : 'follower', appliedIndex });

test('no approval: inactive; approval with a leader: cleared as not needed', () => {
  assert.deepEqual(planRecovery(input({ approval: undefined })), { kind: 'inactive' });
  const d = planRecovery(input({ leader: 'kv-1', members: [voter(0), voter(1), voter(2)] }));
  assert.equal(d.kind, 'clearApproval');
});

test('refused while a quorum of voters answers (they can still elect), with no configuration, or a pinned survivor that does not answer', () => {
  const two = new Map<string, AnsweringMember>([['kv-0', { role: 'candidate', appliedIndex: 1, lastIndex: 5, term: 2 }], ['kv-2', { role: 'candidate', appliedIndex: 1, lastIndex: 5, term: 2 }]]);
  assert.match(JSON.stringify(planRecovery(input({ answered: two }))), /2 of 3 voters answer/);
  assert.equal(stepOf(planRecovery(input({ answered: two }))).step, 'refuse RecoveryRefused');
  assert.match(JSON.stringify(planRecovery(input({ lastKnown: [] }))), /no configuration/);
  assert.match(JSON.stringify(planRecovery(input({ approval: { forceNewCluster: true, survivor: 'kv-2' } }))), /survivor kv-2 is not/);
  assert.match(JSON.stringify(planRecovery(input({ answered: new Map() }))), /no member of the last configuration answers/);
});

test('the survivor is the answering member with the highest last index; term breaks a tie', () => {
  const answered = new Map<string, AnsweringMember>([
    ['kv-0', { role: 'candidate', appliedIndex: 100, lastIndex: 104, term: 7 }],
    ['kv-2', { role: 'candidate', appliedIndex: 100, lastIndex: 110, term: 6 }],
    ['kv-9', { role: 'candidate', appliedIndex: 100, lastIndex: 500, term: 9 }], // not in the configuration
  ]);
  assert.equal(pickSurvivor({ lastKnown, answered, ordinalOf })?.name, 'kv-2');
  answered.set('kv-0', { role: 'candidate', appliedIndex: 100, lastIndex: 110, term: 8 });
  assert.equal(pickSurvivor({ lastKnown, answered, ordinalOf })?.name, 'kv-0');
});

test('1 survivor of 3: wipe the lost members, force the survivor once, add learners back, promote, done', () => {
  // Start: kv-0 answers (last index 104); kv-1 was last seen at 120: 16 entries at risk.
  let { step, record } = stepOf(planRecovery(input({})));
  assert.equal(step, 'wipeMember kv-1');
  assert.ok(record !== undefined);
  assert.equal(record.survivor, 'kv-0');
  assert.equal(record.survivorLastIndex, 104);
  assert.equal(record.entriesAtRisk, 16);
  assert.deepEqual(record.lostMembers, [{ name: 'kv-1', lastKnownAppliedIndex: 120 }, { name: 'kv-2', lastKnownAppliedIndex: 118 }]);
  assert.match(record.message, /16 committed entries beyond the survivor are lost/);
  ({ step, record } = stepOf(planRecovery(input({ record }))));
  assert.equal(step, 'wipeMember kv-2');
  ({ step, record } = stepOf(planRecovery(input({ record }))));
  assert.equal(step, 'force kv-0 g3-1000');
  assert.equal(record?.phase, 'ForcingSurvivor');
  // The approval is not needed any more for a recovery under way (removing it does not strand it).
  ({ step, record } = stepOf(planRecovery(input({ record, approval: undefined }))));
  assert.equal(step, 'refuse RecoveryInProgress', 'waits for the survivor to lead');
  // A leader of the OLD configuration (the survivor not restarted yet) is not the forced one.
  assert.equal(stepOf(planRecovery(input({ record, leader: 'kv-0', members: [voter(0), voter(1, false), voter(2, false)] }))).step, 'refuse RecoveryInProgress');
  // A wiped member goes back only as the empty process: not before it answers, and not while its
  // old process (log intact) still answers at its address.
  const survivorAnswers = input({}).answered;
  const withAnswer = (n: string, lastIndex: number): Map<string, AnsweringMember> => new Map([...survivorAnswers, [n, { role: 'follower', appliedIndex: lastIndex, lastIndex, term: 7 }]]);
  ({ step, record } = stepOf(planRecovery(input({ record, leader: 'kv-0', commitIndex: 105, members: [voter(0)] }))));
  assert.equal(step, 'refuse RecoveryInProgress', 'kv-1 does not answer yet');
  assert.equal(record?.phase, 'Growing');
  const stale = planRecovery(input({ record, leader: 'kv-0', commitIndex: 105, members: [voter(0)], answered: withAnswer('kv-1', 120) }));
  assert.match(JSON.stringify(stale), /previous kv-1 process to stop: its address still answers with log index 120/);
  ({ step, record } = stepOf(planRecovery(input({ record, leader: 'kv-0', commitIndex: 105, members: [voter(0)], answered: withAnswer('kv-1', 0) }))));
  assert.equal(step, 'addLearner kv-1');
  assert.equal(record?.phase, 'Growing');
  const learner1: ObservedMember = { ...voter(1), voter: false, role: 'learner', appliedIndex: 50 };
  assert.equal(stepOf(planRecovery(input({ record, leader: 'kv-0', commitIndex: 105, members: [voter(0), learner1] }))).step, 'refuse RecoveryInProgress');
  assert.equal(stepOf(planRecovery(input({ record, leader: 'kv-0', commitIndex: 105, members: [voter(0), { ...learner1, appliedIndex: 105 }] }))).step, 'promote kv-1');
  const gone = pods.filter((p) => p.name !== 'kv-2');
  assert.equal(stepOf(planRecovery(input({ record, pods: gone, leader: 'kv-0', commitIndex: 106, members: [voter(0), voter(1)] }))).step, 'refuse RecoveryInProgress');
  assert.equal(stepOf(planRecovery(input({ record, leader: 'kv-0', commitIndex: 106, members: [voter(0), voter(1)], answered: withAnswer('kv-2', 0) }))).step, 'addLearner kv-2');
  const done = planRecovery(input({ record, leader: 'kv-0', commitIndex: 107, members: [voter(0), voter(1), voter(2)] }));
  assert.equal(done.kind, 'clearApproval');
  assert.equal(done.kind === 'clearApproval' ? done.record?.phase : undefined, 'Succeeded');
  assert.match(done.kind === 'clearApproval' ? done.record?.message ?? '' : '', /16 entries seen on lost members beyond index 104 are lost/);
  // A finished record with the approval gone: inactive; a new approval with a leader: not needed.
  const finished = done.kind === 'clearApproval' ? done.record : undefined;
  assert.deepEqual(planRecovery(input({ record: finished, approval: undefined, leader: 'kv-0', members: [voter(0), voter(1), voter(2)] })), { kind: 'inactive' });
});

test('a recovery never starts while a quorum answers, whatever the indexes (brute force over who answers)', () => {
  for (let mask = 0; mask < 8; mask++) {
    const answered = new Map<string, AnsweringMember>();
    for (let i = 0; i < 3; i++) if ((mask & (1 << i)) !== 0) answered.set(name(i), { role: 'candidate', appliedIndex: 1, lastIndex: 10 + i, term: 3 });
    const d = planRecovery(input({ answered }));
    const started = d.kind === 'step' && d.record !== undefined;
    assert.equal(started, answered.size === 1, `mask ${mask}: ${JSON.stringify(d)}`);
  }
});
