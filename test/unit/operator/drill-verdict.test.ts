import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeDrill, longestUnavailableMs } from '../../../operator/src/controllers/drill-verdict.js';
import { parseOperatorFlags } from '../../../operator/src/flags.js';

test('longest unavailability counts the edges and unsorted acks', () => {
  assert.equal(longestUnavailableMs([300, 100, 200], 0, 1000), 700);
  assert.equal(longestUnavailableMs([], 0, 500), 500);
  assert.equal(longestUnavailableMs([100, 1600, 1700], 0, 1800), 1500);
  assert.equal(longestUnavailableMs([-5, 100, 5000], 0, 1000), 900, 'acks outside the window are ignored');
});

test('verdict: lost writes fail, slow recovery fails, no writes fail, else succeed', () => {
  const ok = { acknowledgedWrites: 100, lostWrites: 0, unavailableMs: 2000, maxUnavailableSeconds: 5 };
  assert.equal(judgeDrill(ok).phase, 'Succeeded');
  assert.equal(judgeDrill({ ...ok, lostWrites: 1 }).reason, 'WritesLost');
  assert.equal(judgeDrill({ ...ok, unavailableMs: 5001 }).reason, 'RecoveryTooSlow');
  assert.equal(judgeDrill({ ...ok, unavailableMs: 5000 }).phase, 'Succeeded');
  assert.equal(judgeDrill({ ...ok, acknowledgedWrites: 0 }).reason, 'NoWrites');
  assert.equal(judgeDrill({ ...ok, error: 'boom' }).phase, 'Failed');
});

test('operator flags: values, env fallback, errors', () => {
  const f = parseOperatorFlags(['--namespaces', 'a,b', '--metrics-port=9000'], { RAFTKV_OPERATOR_LEASE_NAME: 'x', POD_NAMESPACE: 'ops' });
  assert.deepEqual(f.namespaces, ['a', 'b']);
  assert.equal(f.metricsPort, 9000);
  assert.equal(f.leaseName, 'x');
  assert.equal(f.leaseNamespace, 'ops');
  assert.throws(() => parseOperatorFlags(['--bogus'], {}), RangeError);
  assert.throws(() => parseOperatorFlags(['--metrics-port', '70000'], {}), RangeError);
});

test('steady state: Running, a leader, every voter answering with a leader and close to the commit index', async () => {
  const { steadyStateProblem } = await import('../../../operator/src/controllers/drill-verdict.js');
  const members = [{ name: 'a', voter: true }, { name: 'b', voter: true }, { name: 'c', voter: true }, { name: 'l', voter: false }];
  const st = (role: string, applied: number, leader: unknown = { name: 'a' }) => ({ role, term: 2, leader, commitIndex: 100, appliedIndex: applied, members });
  const ok = new Map([['a', st('leader', 100)], ['b', st('follower', 99)], ['c', st('follower', 95)], ['l', undefined]]);
  assert.equal(steadyStateProblem({ clusterPhase: 'Running', statuses: ok, maxLagEntries: 10 }), undefined, 'a learner not answering does not matter');
  assert.match(steadyStateProblem({ clusterPhase: 'Upgrading', statuses: ok, maxLagEntries: 10 }) ?? '', /Upgrading, not Running/);
  assert.match(steadyStateProblem({ clusterPhase: 'Running', statuses: new Map([...ok, ['c', undefined]]), maxLagEntries: 10 }) ?? '', /voter c does not answer/);
  assert.match(steadyStateProblem({ clusterPhase: 'Running', statuses: new Map([...ok, ['c', st('follower', 50)]]), maxLagEntries: 10 }) ?? '', /voter c is 50 entries behind/);
  assert.match(steadyStateProblem({ clusterPhase: 'Running', statuses: new Map([...ok, ['b', st('candidate', 99, null)]]), maxLagEntries: 10 }) ?? '', /voter b knows no leader/);
  assert.match(steadyStateProblem({ clusterPhase: 'Running', statuses: new Map([['b', st('follower', 99)]]), maxLagEntries: 10 }) ?? '', /no member reports being the leader/);
});

test('bounded concurrency: never more than the bound at once, every item done, failures counted', async () => {
  const { forEachBounded } = await import('../../../operator/src/controllers/drill-verdict.js');
  let now = 0;
  let peak = 0;
  const failed = await forEachBounded([...Array(50).keys()], 4, async (i) => {
    now++;
    peak = Math.max(peak, now);
    await new Promise((r) => setTimeout(r, 1));
    now--;
    if (i % 10 === 0) throw new Error('x');
  });
  assert.equal(peak, 4);
  assert.equal(failed, 5);
  assert.equal(await forEachBounded([], 4, async () => undefined), 0);
});

test('drill locks: one drill per cluster; the planner makes no change while one holds it', async () => {
  const { DrillLocks } = await import('../../../operator/src/controllers/drill-locks.js');
  const { plan } = await import('../../../operator/src/planner/planner.js');
  const locks = new DrillLocks();
  assert.equal(locks.acquire('ns/kv', 'ns/d1'), true);
  assert.equal(locks.acquire('ns/kv', 'ns/d2'), false);
  assert.equal(locks.acquire('ns/other', 'ns/d2'), true);
  locks.release('ns/kv', 'ns/d2');
  assert.equal(locks.holder('ns/kv'), 'ns/d1', 'only the holder releases');
  locks.release('ns/kv', 'ns/d1');
  assert.equal(locks.acquire('ns/kv', 'ns/d2'), true);
  const m = (i: number) => ({ name: `kv-${i}`, ordinal: i, voter: true, healthy: true, role: i === 0 ? 'leader' : 'follower', appliedIndex: 100 });
  const input = { desiredReplicas: 5, statefulSetReplicas: 3, leader: 'kv-0', commitIndex: 100, members: [m(0), m(1), m(2)], pods: [], learnerMaxLagEntries: 10, memberNameOf: (i: number) => `kv-${i}` };
  assert.equal(plan(input).kind, 'setStatefulSetReplicas');
  const held = plan({ ...input, drillInProgress: 'ns/d2' });
  assert.equal(held.kind === 'refuse' && held.reason, 'DrillInProgress');
  assert.deepEqual(plan({ ...input, desiredReplicas: 3, drillInProgress: 'ns/d2' }), { kind: 'none' });
});
