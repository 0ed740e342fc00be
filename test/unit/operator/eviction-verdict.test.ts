// The eviction verdict (webhook/eviction-verdict.ts) and the operator's webhook flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evictionVerdict, memberClusterOf } from '../../../operator/src/webhook/eviction-verdict.js';
import type { EvictionFacts } from '../../../operator/src/webhook/eviction-verdict.js';
import { webhookNames } from '../../../operator/src/webhook/eviction-webhook.js';
import { parseOperatorFlags } from '../../../operator/src/flags.js';

const labels = { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/managed-by': 'raftkv-operator', 'app.kubernetes.io/instance': 'kv' };
const facts = (over: Partial<EvictionFacts>): EvictionFacts => ({
  pod: 'kv-0', namespace: 'ns', podLabels: labels, cluster: { paused: false }, member: { role: 'leader', voters: 3 }, ...over,
});

test('only the pod of a leader that can hand over is refused, with 429 and a message saying why and what to do', () => {
  const v = evictionVerdict(facts({}));
  assert.equal(v.allowed, false);
  assert.ok(!v.allowed && v.code === 429 && v.transferLeadership);
  assert.match(v.allowed ? '' : v.message, /pod kv-0 runs the leader of RaftCluster ns\/kv.*retry the eviction/);
  const allowedWhy = (f: Partial<EvictionFacts>): string => {
    const x = evictionVerdict(facts(f));
    assert.ok(x.allowed, JSON.stringify(f));
    return x.reason;
  };
  assert.match(allowedWhy({ member: { role: 'follower', voters: 3 } }), /is a follower/);
  assert.match(allowedWhy({ member: { role: 'learner', voters: 3 } }), /is a learner/);
  assert.match(allowedWhy({ member: undefined }), /does not answer/);
  assert.match(allowedWhy({ member: { role: 'leader', voters: 1 } }), /only voter/);
  // The PDB refuses it anyway: no leadership move for an eviction that cannot happen.
  assert.match(allowedWhy({ pdbDisruptionsAllowed: 0 }), /PodDisruptionBudget allows no disruption now.*leadership stays on kv-0/);
  assert.equal(evictionVerdict(facts({ pdbDisruptionsAllowed: 1 })).allowed, false, 'a disruption the PDB allows waits for the leadership move');
  assert.equal(evictionVerdict(facts({ pdbDisruptionsAllowed: undefined })).allowed, false, 'an unknown PDB holds the leader as before');
  assert.match(allowedWhy({ cluster: { paused: true } }), /paused/);
  assert.match(allowedWhy({ cluster: undefined }), /not found/);
  assert.match(allowedWhy({ podLabels: undefined }), /no such pod/);
  assert.match(allowedWhy({ podLabels: { ...labels, 'app.kubernetes.io/managed-by': 'someone-else' } }), /not a raftkv member pod/);
});

test('memberClusterOf needs all member labels', () => {
  assert.equal(memberClusterOf(labels), 'kv');
  assert.equal(memberClusterOf({ 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': 'kv' }), undefined);
  assert.equal(memberClusterOf({ ...labels, 'app.kubernetes.io/instance': '' }), undefined);
  assert.equal(memberClusterOf(undefined), undefined);
});

test('webhook flags come as a set; the certificate names the Service in every form', () => {
  assert.equal(parseOperatorFlags([], {}).webhook, undefined);
  assert.deepEqual(parseOperatorFlags(['--webhook-port', '9443', '--webhook-service', 's', '--webhook-secret', 't', '--webhook-config', 'c'], {}).webhook, { port: 9443, service: 's', secret: 't', config: 'c' });
  assert.throws(() => parseOperatorFlags(['--webhook-port', '9443'], {}), /needs --webhook-service/);
  assert.throws(() => parseOperatorFlags(['--webhook-port', 'x'], {}), /0\.\.65535/);
  assert.deepEqual(webhookNames({ serviceName: 'op', namespace: 'sys' }), ['op', 'op.sys', 'op.sys.svc']);
});
