import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quorumOf } from '../../../operator/src/build/names.js';
import { disruptionBudget } from '../../../operator/src/planner/disruption.js';
import type { ObservedMember, PlanStep } from '../../../operator/src/planner/planner.js';

function m(i: number, voter = true): ObservedMember {
  return { name: `kv-${i}`, ordinal: i, voter, healthy: true, role: voter ? 'follower' : 'learner', appliedIndex: 100 };
}

/**
 * Brute force: every set of pods a PDB with `minAvailable` over `selected` lets stay ready (any
 * subset of the selected pods at least minAvailable large; unselected pods may all go) keeps a
 * quorum of every configuration in `configs`. Returns the first counterexample.
 */
function violation(selected: readonly string[], minAvailable: number, configs: readonly (readonly string[])[]): string | undefined {
  for (let mask = 0; mask < 1 << selected.length; mask++) {
    const left = selected.filter((_, i) => (mask & (1 << i)) !== 0);
    if (left.length < minAvailable) continue;
    for (const c of configs) {
      const voters = c.filter((n) => left.includes(n)).length;
      if (c.length > 1 && voters < quorumOf(c.length)) return `ready ${left.join(',') || '(none)'}: ${voters} of voters ${c.join(',')}`;
    }
  }
  return undefined;
}

function check(members: ObservedMember[], step: PlanStep): { minAvailable: number; problem: string | undefined } {
  const b = disruptionBudget(members, step);
  const now = members.filter((x) => x.voter).map((x) => x.name);
  let next = now;
  if (step.kind === 'promote') next = [...now, step.member];
  if (step.kind === 'removeMember') next = now.filter((n) => n !== step.member);
  const selected = [...b.roles].filter(([, r]) => r === 'voter').map(([n]) => n);
  return { minAvailable: b.minAvailable, problem: violation(selected, b.minAvailable, [now, next]) };
}

test('checker: the old PDB (minAvailable = quorum of spec.replicas over every member pod) is caught', () => {
  // 5 voters scaling to 3: the old PDB had minAvailable 2 over all 5 pods.
  const five = ['kv-0', 'kv-1', 'kv-2', 'kv-3', 'kv-4'];
  assert.match(violation(five, quorumOf(3), [five]) ?? '', /2 of voters/);
  // 4 voters + 1 stuck learner, spec.replicas 5: minAvailable 3 over 5 pods lets 2 voters go.
  assert.ok(violation(five, quorumOf(5), [five.slice(0, 4)]) !== undefined);
  // ...and a correct budget is not flagged.
  assert.equal(violation(five, 3, [five]), undefined);
});

test('every configuration of 1..9 voters (+ learners) and every step: no allowed eviction takes either configuration below quorum', () => {
  let cases = 0;
  for (let voters = 1; voters <= 9; voters++) {
    for (let learners = 0; learners <= 2; learners++) {
      const members = [...Array(voters + learners).keys()].map((i) => m(i, i < voters));
      const steps: PlanStep[] = [{ kind: 'none' }, { kind: 'addLearner', member: `kv-${voters + learners}` }];
      if (learners > 0) steps.push({ kind: 'promote', member: `kv-${voters}` }, { kind: 'removeMember', member: `kv-${voters + learners - 1}` });
      if (voters > 1) {
        steps.push({ kind: 'removeMember', member: `kv-${voters - 1}` }, { kind: 'transferLeadership', from: 'kv-0', to: 'kv-1', reason: 'x' }, { kind: 'deletePod', pod: 'kv-1', reason: 'x' });
      }
      for (const step of steps) {
        const r = check(members, step);
        assert.equal(r.problem, undefined, `${voters} voters + ${learners} learners, ${step.kind}: ${r.problem ?? ''}`);
        cases++;
      }
    }
  }
  assert.ok(cases > 80);
});

test('voters are labelled voter, learners learner; a learner being promoted is already a voter', () => {
  const members = [m(0), m(1), m(2), m(3, false)];
  const b = disruptionBudget(members, { kind: 'none' });
  assert.deepEqual([...b.roles], [['kv-0', 'voter'], ['kv-1', 'voter'], ['kv-2', 'voter'], ['kv-3', 'learner']]);
  assert.equal(b.minAvailable, 2);
  const p = disruptionBudget(members, { kind: 'promote', member: 'kv-3' });
  assert.equal(p.roles.get('kv-3'), 'voter');
  assert.equal(p.minAvailable, 3, 'max(q(3)+1, q(4))');
});

test('figures from the issue: 4 voters + 1 learner allow one eviction; 5 voters removing one allow one', () => {
  const stuck = disruptionBudget([m(0), m(1), m(2), m(3), m(4, false)], { kind: 'none' });
  assert.equal(stuck.minAvailable, 3, '4 voters selected, 3 must stay: 1 eviction');
  const removing = disruptionBudget([m(0), m(1), m(2), m(3), m(4)], { kind: 'removeMember', member: 'kv-4' });
  assert.equal(removing.minAvailable, 4, 'after removing kv-4, 3 of the 4 left must be up');
  assert.equal(disruptionBudget([m(0), m(1), m(2), m(3), m(4)], { kind: 'none' }).minAvailable, 3);
});

test('a single voter gets minAvailable 0 so a drain can finish; growing from one does not', () => {
  const one = disruptionBudget([m(0)], { kind: 'none' });
  assert.equal(one.minAvailable, 0);
  assert.equal(one.singleVoter, true);
  const growing = disruptionBudget([m(0), m(1, false)], { kind: 'promote', member: 'kv-1' });
  assert.equal(growing.singleVoter, false);
  assert.equal(growing.minAvailable, 2);
  const shrinking = disruptionBudget([m(0), m(1)], { kind: 'removeMember', member: 'kv-1' });
  assert.equal(shrinking.minAvailable, 2);
});
