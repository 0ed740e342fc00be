// Backup CronJob, backup PVC and restore init container built from RaftCluster specs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BACKUP_MOUNT_PATH, BackupSpecError, MEMBER_DATA_DIR, RESTORE_MOUNT_PATH, backupCommand, buildBackupCronJob, buildBackupPvc, buildRestoreInitContainer,
  clusterTokenOf, withRestore,
} from '../../../operator/src/build/backup.js';
import { buildStatefulSet, memberArgs } from '../../../operator/src/build/objects.js';
import { selectorLabels } from '../../../operator/src/build/names.js';
import { restoredCondition } from '../../../operator/src/controllers/raftcluster.js';

import { cluster, inputs } from './fixtures.js';

test('backup CronJob: raftctl snapshot save into the mounted PVC, Forbid, bounded retries/deadline/history, owned', () => {
  const backup = { schedule: '*/15 * * * *', keep: 7 };
  const cj = buildBackupCronJob(cluster({ backup }), backup);
  assert.equal(cj.metadata?.name, 'kv-backup');
  assert.equal(cj.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
  const spec = cj.spec;
  assert.ok(spec !== undefined);
  assert.equal(spec.schedule, '*/15 * * * *');
  assert.equal(spec.concurrencyPolicy, 'Forbid');
  assert.equal(spec.suspend, false);
  assert.ok((spec.successfulJobsHistoryLimit ?? 99) <= 5 && (spec.failedJobsHistoryLimit ?? 99) <= 5);
  const job = spec.jobTemplate.spec;
  assert.ok(job?.backoffLimit !== undefined && job.backoffLimit <= 5);
  assert.ok(job.activeDeadlineSeconds !== undefined && job.activeDeadlineSeconds > 0);
  const pod = job.template.spec;
  assert.equal(pod?.restartPolicy, 'Never');
  const c = pod?.containers[0];
  assert.equal(c?.image, 'raftkv:1');
  assert.deepEqual(c?.command, ['raftctl']);
  assert.deepEqual(c?.args, ['--endpoints', 'http://kv.prod.svc:2379', 'snapshot', 'save', '--dir', BACKUP_MOUNT_PATH, '--keep', '7']);
  assert.deepEqual(c?.volumeMounts, [{ name: 'backup', mountPath: BACKUP_MOUNT_PATH }]);
  assert.deepEqual(pod?.volumes, [{ name: 'backup', persistentVolumeClaim: { claimName: 'kv-backup' } }]);
  // Backup pods must never look like members to the client Service, the PDB or the operator.
  const member = selectorLabels(cluster());
  const podLabels = job.template.metadata?.labels ?? {};
  assert.ok(Object.entries(member).some(([k, v]) => podLabels[k] !== v), `backup pod labels ${JSON.stringify(podLabels)} match the member selector`);
  const existing = buildBackupCronJob(cluster(), { schedule: '@daily', keep: 2, claimName: 'shared', suspend: true });
  assert.equal(existing.spec?.suspend, true);
  assert.deepEqual(existing.spec?.jobTemplate.spec?.template.spec?.volumes, [{ name: 'backup', persistentVolumeClaim: { claimName: 'shared' } }]);
  assert.deepEqual(backupCommand(cluster(), { schedule: '@daily', keep: 2 }).args.slice(-2), ['--keep', '2']);
});

test('backup PVC: <cluster>-backup, size and class from spec (1Gi default), no owner reference so it outlives the cluster', () => {
  const pvc = buildBackupPvc(cluster(), { schedule: '@daily', keep: 5, storage: { size: '5Gi', storageClassName: 'fast' } });
  assert.equal(pvc.metadata?.name, 'kv-backup');
  assert.equal(pvc.metadata?.namespace, 'prod');
  assert.equal(pvc.metadata?.ownerReferences, undefined);
  assert.deepEqual(pvc.spec?.resources?.requests, { storage: '5Gi' });
  assert.equal(pvc.spec?.storageClassName, 'fast');
  assert.deepEqual(buildBackupPvc(cluster(), { schedule: '@daily', keep: 5 }).spec?.resources?.requests, { storage: '1Gi' });
});

test('restore init container: raftkv restore --skip-if-initialized with the members\' data dir, name, bootstrap list, state and token', () => {
  const restore = { claimName: 'old-backups', file: 'daily/snapshot-20261202T081500Z-rev12.snap' };
  const c = cluster({ restore });
  const sts = withRestore(buildStatefulSet(c, inputs), c);
  const pod = sts.spec?.template.spec;
  const init = pod?.initContainers?.[0];
  assert.equal(pod?.initContainers?.length, 1);
  assert.deepEqual(init?.command, ['raftkv']);
  assert.deepEqual(init?.args, [
    'restore', `--from=${RESTORE_MOUNT_PATH}/daily/snapshot-20261202T081500Z-rev12.snap`, `--data-dir=${MEMBER_DATA_DIR}`, '--name=$(POD_NAME)',
    '--initial-cluster=$(RAFTKV_INITIAL_CLUSTER)', '--initial-cluster-state=$(RAFTKV_INITIAL_CLUSTER_STATE)', '--cluster-token=kv.prod', '--skip-if-initialized',
  ]);
  // Same data dir, token and env sources as the member container itself.
  const member = pod?.containers[0];
  const args = memberArgs(c);
  assert.ok(args.includes(`--data-dir=${MEMBER_DATA_DIR}`), 'init container restores where the member reads');
  assert.ok(args.includes(`--cluster-token=${clusterTokenOf(c)}`), 'init container uses the members\' cluster token');
  for (const name of ['POD_NAME', 'RAFTKV_INITIAL_CLUSTER', 'RAFTKV_INITIAL_CLUSTER_STATE']) {
    assert.deepEqual(init?.env?.find((e) => e.name === name), member?.env?.find((e) => e.name === name), name);
  }
  assert.deepEqual(init?.volumeMounts, [{ name: 'data', mountPath: '/var/lib/raftkv' }, { name: 'restore-source', mountPath: RESTORE_MOUNT_PATH, readOnly: true }, { name: 'tmp', mountPath: '/tmp' }]);
  assert.equal(init?.securityContext?.readOnlyRootFilesystem, true);
  assert.deepEqual(pod?.volumes?.find((v) => v.name === 'restore-source'), { name: 'restore-source', persistentVolumeClaim: { claimName: 'old-backups', readOnly: true } });
  // Without spec.restore the StatefulSet is exactly what buildStatefulSet makes.
  assert.deepEqual(withRestore(buildStatefulSet(cluster(), inputs), cluster()), buildStatefulSet(cluster(), inputs));
  for (const bad of ['../etc/passwd', '/abs.snap', 'a//b', 'a/./b', '']) assert.throws(() => buildRestoreInitContainer(c, { claimName: 'x', file: bad }), BackupSpecError, bad);
});

test('Restored condition: Unknown while bootstrapping, True once the bootstrap members formed a cluster', () => {
  const r = { claimName: 'b', file: 'f.snap' };
  assert.equal(restoredCondition(r, false, 1).status, 'Unknown');
  const ok = restoredCondition(r, true, 1);
  assert.equal(ok.status, 'True');
  assert.equal(ok.reason, 'RestoredFromBackup');
  assert.match(ok.message, /f\.snap on PVC b/);
});

test('backup CronJob on a secured cluster: https Service URL, the CA only (never the member key), the token file via --token-file', () => {
  const backup = { schedule: '@hourly', keep: 3 };
  const secured = cluster({ backup, tls: { enabled: true }, auth: { tokenSecretName: 'kv-tokens', tokenSecretKey: 'list' } });
  const pod = buildBackupCronJob(secured, backup).spec?.jobTemplate.spec?.template.spec;
  const c = pod?.containers[0];
  assert.deepEqual(c?.args, [
    '--endpoints', 'https://kv.prod.svc:2379', '--cacert', '/etc/raftkv/tls/ca.crt', '--token-file', '/etc/raftkv/auth/tokens',
    'snapshot', 'save', '--dir', BACKUP_MOUNT_PATH, '--keep', '3',
  ]);
  const tlsVol = pod?.volumes?.find((v) => v.name === 'tls');
  assert.equal(tlsVol?.secret?.secretName, 'kv-tls', 'the generated member Secret');
  assert.deepEqual(tlsVol?.secret?.items, [{ key: 'ca.crt', path: 'ca.crt' }], 'tls.key is not mounted into backup pods');
  assert.deepEqual(pod?.volumes?.find((v) => v.name === 'auth-tokens')?.secret?.items, [{ key: 'list', path: 'tokens' }]);
  assert.deepEqual(c?.volumeMounts?.map((m) => [m.mountPath, m.readOnly ?? false]), [[BACKUP_MOUNT_PATH, false], ['/etc/raftkv/tls', true], ['/etc/raftkv/auth', true]]);
  assert.ok(!JSON.stringify(pod).includes('Bearer'), 'no token in the pod spec');
  const own = cluster({ backup, tls: { enabled: true, secretName: 'my-tls' } });
  assert.equal(buildBackupCronJob(own, backup).spec?.jobTemplate.spec?.template.spec?.volumes?.find((v) => v.name === 'tls')?.secret?.secretName, 'my-tls');
});
