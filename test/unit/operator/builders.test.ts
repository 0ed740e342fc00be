import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDurationMs } from '../../../operator/src/api/types.js';
import {
  buildClientService, buildConfigMap, buildPeerService, buildPodDisruptionBudget, buildStatefulSet, initialClusterFor, memberArgs,
} from '../../../operator/src/build/objects.js';
import { ordinalOf, quorumOf } from '../../../operator/src/build/names.js';

import { cluster, inputs } from './fixtures.js';

test('every owned object carries a controller owner reference to the RaftCluster', () => {
  const c = cluster();
  for (const o of [buildPeerService(c), buildClientService(c), buildConfigMap(c, inputs), buildPodDisruptionBudget(c, 2), buildStatefulSet(c, inputs)]) {
    assert.deepEqual(o.metadata?.ownerReferences, [{ apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', name: 'kv', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    assert.equal(o.metadata?.namespace, 'prod');
  }
});

test('a cluster without uid cannot be built (never read from the API server)', () => {
  const c = cluster();
  delete c.metadata.uid;
  assert.throws(() => buildPeerService(c), /no uid/);
});

test('headless peer service publishes not-ready pods; client service does not', () => {
  const peer = buildPeerService(cluster());
  assert.equal(peer.spec?.clusterIP, 'None');
  assert.equal(peer.spec?.publishNotReadyAddresses, true);
  assert.deepEqual(peer.spec?.ports?.map((p) => p.port), [2379, 2380]);
  assert.equal(buildClientService(cluster()).spec?.publishNotReadyAddresses, undefined);
});

test('PDB selects voter pods only, with the minAvailable it is given', () => {
  const pdb = buildPodDisruptionBudget(cluster({ replicas: 5 }), 4);
  assert.equal(pdb.spec?.minAvailable, 4);
  assert.deepEqual(pdb.spec?.selector?.matchLabels, { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': 'kv', 'raftkv.dev/role': 'voter' });
  assert.deepEqual([1, 2, 3, 4, 5, 9].map(quorumOf), [1, 2, 2, 3, 3, 5]);
});

test('StatefulSet: replicas from the controller, OnDelete, probes, PVC template, env from the ConfigMap', () => {
  const sts = buildStatefulSet(cluster({ storage: { size: '2Gi', storageClassName: 'fast' } }), { ...inputs, statefulSetReplicas: 4 });
  assert.equal(sts.spec?.replicas, 4);
  assert.equal(sts.spec?.serviceName, 'kv-peer');
  assert.equal(sts.spec?.updateStrategy?.type, 'OnDelete');
  assert.equal(sts.spec?.podManagementPolicy, 'Parallel');
  const ctr = sts.spec?.template.spec?.containers[0];
  assert.equal(ctr?.image, 'raftkv:1');
  assert.equal(ctr?.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(ctr?.livenessProbe?.httpGet?.path, '/healthz');
  const pvc = sts.spec?.volumeClaimTemplates?.[0];
  assert.equal(pvc?.spec?.resources?.requests?.['storage'], '2Gi');
  assert.equal(pvc?.spec?.storageClassName, 'fast');
  assert.equal(ctr?.volumeMounts?.[0]?.name, pvc?.metadata?.name);
  const env = new Map((ctr?.env ?? []).map((e) => [e.name, e]));
  assert.equal(env.get('POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
  assert.equal(env.get('RAFTKV_INITIAL_CLUSTER_STATE')?.valueFrom?.configMapKeyRef?.key, 'initial-cluster-state');
  assert.equal(env.get('RAFTKV_INITIAL_CLUSTER')?.valueFrom?.configMapKeyRef?.name, 'kv-config');
  assert.deepEqual(sts.spec?.selector.matchLabels, { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': 'kv' });
});

test('member args: name from the pod, raft timing from the spec, fault injection only when asked', () => {
  const args = memberArgs(cluster());
  assert.ok(args.includes('--name=$(POD_NAME)'));
  assert.ok(args.includes('--advertise-peer=$(POD_NAME).kv-peer.prod.svc:2380'));
  assert.ok(args.includes('--advertise-client=http://$(POD_NAME).kv-peer.prod.svc:2379'));
  assert.ok(args.includes('--election-timeout-ms=1000'));
  assert.ok(args.includes('--snapshot-entries=500'));
  assert.ok(args.some((a) => a.startsWith('--data-dir=/var/lib/raftkv')));
  assert.ok(!args.includes('--enable-fault-injection'));
  assert.ok(memberArgs(cluster({ enableFaultInjection: true })).includes('--enable-fault-injection'));
});

test('ConfigMap carries the bootstrap voters and the state', () => {
  const c = cluster();
  assert.equal(initialClusterFor(c, 3), 'kv-0=kv-0.kv-peer.prod.svc:2380,kv-1=kv-1.kv-peer.prod.svc:2380,kv-2=kv-2.kv-peer.prod.svc:2380');
  const cm = buildConfigMap(c, { ...inputs, initialCluster: initialClusterFor(c, 1), initialClusterState: 'existing' });
  assert.deepEqual(cm.data, { 'initial-cluster': 'kv-0=kv-0.kv-peer.prod.svc:2380', 'initial-cluster-state': 'existing' });
});

test('ordinals and durations parse strictly', () => {
  const c = cluster();
  assert.equal(ordinalOf(c, 'kv-3'), 3);
  assert.equal(ordinalOf(c, 'kv-03'), undefined);
  assert.equal(ordinalOf(c, 'other-1'), undefined);
  assert.equal(parseDurationMs('1m30s'), 90_000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.throws(() => parseDurationMs('10'), RangeError);
  assert.throws(() => parseDurationMs(''), RangeError);
  assert.throws(() => parseDurationMs('5s junk'), RangeError);
});

test('member pods are hardened: non-root 1000, read-only root with /tmp an emptyDir, no capabilities, RuntimeDefault seccomp', () => {
  const pod = buildStatefulSet(cluster(), inputs).spec?.template.spec;
  assert.deepEqual(pod?.securityContext, { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
  const ctr = pod?.containers[0];
  assert.deepEqual(ctr?.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  // Writable mounts: the data volume and /tmp only.
  assert.deepEqual(ctr?.volumeMounts?.filter((m) => m.readOnly !== true).map((m) => m.mountPath), ['/var/lib/raftkv', '/tmp']);
  assert.ok(memberArgs(cluster()).some((a) => a === '--data-dir=/var/lib/raftkv/data'), 'the data dir is inside the data volume');
  assert.deepEqual(pod?.volumes?.find((v) => v.name === 'tmp')?.emptyDir, { sizeLimit: '64Mi' });
});

test('placement: preferred anti-affinity on the hostname by default, required or none one field away, user affinity kept', () => {
  const byDefault = buildStatefulSet(cluster(), inputs).spec?.template.spec?.affinity;
  assert.deepEqual(byDefault, { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': 'kv' } }, topologyKey: 'kubernetes.io/hostname' } }] } });
  const required = buildStatefulSet(cluster({ memberAntiAffinity: 'Required' }), inputs).spec?.template.spec?.affinity;
  assert.equal(required?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey, 'kubernetes.io/hostname');
  assert.equal(required?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution, undefined);
  assert.equal(buildStatefulSet(cluster({ memberAntiAffinity: 'None' }), inputs).spec?.template.spec?.affinity, undefined);
  const nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }] } };
  const mixed = buildStatefulSet(cluster({ affinity: { nodeAffinity } }), inputs).spec?.template.spec?.affinity;
  assert.deepEqual(mixed?.nodeAffinity, nodeAffinity);
  assert.ok(mixed?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution !== undefined, 'default anti-affinity added next to the user nodeAffinity');
  const own = { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { x: 'y' } }, topologyKey: 'topology.kubernetes.io/zone' }] };
  assert.deepEqual(buildStatefulSet(cluster({ affinity: { podAntiAffinity: own } }), inputs).spec?.template.spec?.affinity, { podAntiAffinity: own });
});

test('placement and pod additions reach the pod template; the operator keeps its own labels, env and flags', () => {
  const sts = buildStatefulSet(cluster({
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }],
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'raftkv', effect: 'NoSchedule' }],
    nodeSelector: { disk: 'ssd' },
    priorityClassName: 'high',
    pod: { labels: { team: 'a', 'app.kubernetes.io/instance': 'spoof' }, annotations: { 'prometheus.io/scrape': 'true' }, env: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=512' }], extraArgs: ['--log-level=debug'] },
  }), inputs);
  const t = sts.spec?.template;
  assert.deepEqual(t?.spec?.topologySpreadConstraints?.[0]?.labelSelector, { matchLabels: { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': 'kv' } }, 'missing labelSelector filled with the member selector');
  assert.equal(t?.spec?.tolerations?.[0]?.key, 'dedicated');
  assert.deepEqual(t?.spec?.nodeSelector, { disk: 'ssd' });
  assert.equal(t?.spec?.priorityClassName, 'high');
  assert.equal(t?.metadata?.labels?.['team'], 'a');
  assert.equal(t?.metadata?.labels?.['app.kubernetes.io/instance'], 'kv', 'selector labels cannot be overridden');
  assert.deepEqual(t?.metadata?.annotations, { 'prometheus.io/scrape': 'true' });
  const ctr = t?.spec?.containers[0];
  assert.equal(ctr?.env?.at(-1)?.name, 'NODE_OPTIONS');
  assert.equal(ctr?.env?.[0]?.name, 'POD_NAME');
  assert.equal(ctr?.args?.at(-1), '--log-level=debug');
  assert.equal(ctr?.args?.[0], '--name=$(POD_NAME)');
  // Nothing of it when unset.
  const plain = buildStatefulSet(cluster(), inputs).spec?.template;
  for (const k of ['topologySpreadConstraints', 'tolerations', 'nodeSelector', 'priorityClassName'] as const) assert.equal(plain?.spec?.[k], undefined, k);
  assert.equal(plain?.metadata?.annotations, undefined);
});
