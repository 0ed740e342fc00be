// spec.backup.s3 / continuous shipping / spec.restore.s3 in the CronJob, the member StatefulSet and
// the restore init container: the AWS environment from the spec (credentials only as secretKeyRefs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EnvVar } from '@kubernetes/client-node';
import { BackupSpecError, buildBackupCronJob, buildRestoreInitContainer, checkRestoreSpec, withBackupShipping, withRestore } from '../../../operator/src/build/backup.js';
import { buildStatefulSet } from '../../../operator/src/build/objects.js';
import { S3_CA_MOUNT_PATH, backupTargetUrl } from '../../../operator/src/build/s3.js';
import type { BackupSpec } from '../../../operator/src/api/types.js';
import { cluster, inputs } from './fixtures.js';

const s3 = { bucket: 'backups', endpoint: 'http://s3.example:9000', region: 'eu-west-1', forcePathStyle: true, credentialsSecret: { name: 's3-creds' } };
const envOf = (env: V1EnvVar[] | undefined): Record<string, unknown> => Object.fromEntries((env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

test('backup CronJob with s3: raftctl snapshot save to the prefix, keep and keep-within, AWS env, no PVC', () => {
  const backup: BackupSpec = { schedule: '@hourly', keep: 3, keepWithin: '7d', s3 };
  const c = cluster({ backup });
  const cj = buildBackupCronJob(c, backup);
  const pod = cj.spec?.jobTemplate.spec?.template.spec;
  const ctr = pod?.containers[0];
  assert.equal(backupTargetUrl(c, s3), 's3://backups/prod/kv/');
  assert.deepEqual(ctr?.args, ['--endpoints', 'http://kv.prod.svc:2379', 'snapshot', 'save', 's3://backups/prod/kv/', '--keep', '3', '--keep-within', '7d']);
  assert.equal(cj.spec?.timeZone, 'Etc/UTC');
  assert.deepEqual(pod?.volumes, []);
  assert.deepEqual(envOf(ctr?.env), {
    AWS_ENDPOINT_URL_S3: 'http://s3.example:9000', AWS_REGION: 'eu-west-1', RAFTKV_S3_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 's3-creds', key: 'AWS_ACCESS_KEY_ID' } },
    AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 's3-creds', key: 'AWS_SECRET_ACCESS_KEY' } },
  });
  // An explicit prefix is used as given (a trailing slash added); a CA Secret is mounted.
  const custom: BackupSpec = { schedule: '@daily', keep: 1, s3: { bucket: 'b', prefix: 'raftkv/prod', caSecret: { name: 'ca', key: 'bundle.pem' } } };
  const cj2 = buildBackupCronJob(cluster({ backup: custom }), custom);
  const ctr2 = cj2.spec?.jobTemplate.spec?.template.spec?.containers[0];
  assert.equal(ctr2?.args?.[4], 's3://b/raftkv/prod/');
  assert.deepEqual(envOf(ctr2?.env), { AWS_CA_BUNDLE: `${S3_CA_MOUNT_PATH}/ca.crt` });
  assert.deepEqual(cj2.spec?.jobTemplate.spec?.template.spec?.volumes, [{ name: 's3-ca', secret: { secretName: 'ca', defaultMode: 0o444, items: [{ key: 'bundle.pem', path: 'ca.crt' }] } }]);
  assert.throws(() => buildBackupCronJob(cluster(), { schedule: '@daily', keep: 1, keepWithin: '1d' }), BackupSpecError);
});

test('continuous shipping: --backup-ship-to and the AWS env on the raftkv container only; off without continuous', () => {
  const backup: BackupSpec = { schedule: '@hourly', keep: 3, s3, continuous: true };
  const c = cluster({ backup, pod: { env: [{ name: 'AWS_REGION', value: 'overridden' }, { name: 'OTHER', value: 'x' }] } });
  const sts = withBackupShipping(buildStatefulSet(c, inputs), c);
  const ctr = sts.spec?.template.spec?.containers.find((x) => x.name === 'raftkv');
  assert.ok(ctr?.args?.includes('--backup-ship-to=s3://backups/prod/kv/'));
  const env = envOf(ctr?.env);
  assert.equal(env['AWS_REGION'], 'eu-west-1');
  assert.equal(env['OTHER'], 'x');
  assert.deepEqual(env['AWS_SECRET_ACCESS_KEY'], { secretKeyRef: { name: 's3-creds', key: 'AWS_SECRET_ACCESS_KEY' } });
  assert.equal((ctr?.env ?? []).filter((e) => e.name === 'AWS_REGION').length, 1);
  const off = cluster({ backup: { ...backup, continuous: false } });
  assert.deepEqual(withBackupShipping(buildStatefulSet(off, inputs), off), buildStatefulSet(off, inputs));
  const pvc = cluster({ backup: { schedule: '@hourly', keep: 3, continuous: true } });
  assert.deepEqual(withBackupShipping(buildStatefulSet(pvc, inputs), pvc), buildStatefulSet(pvc, inputs));
});

test('restore from S3: --from the URL, --to-revision / --to-time, AWS env, no PVC volume', () => {
  const restore = { s3: { url: 's3://backups/prod/kv/', endpoint: 'http://s3.example:9000', credentialsSecret: { name: 's3-creds', accessKeyIdKey: 'id', secretAccessKeyKey: 'secret' } }, toRevision: 1861 };
  const c = cluster({ restore });
  const init = buildRestoreInitContainer(c, restore);
  assert.equal(init.args?.[1], '--from=s3://backups/prod/kv/');
  assert.equal(init.args?.[2], '--to-revision=1861');
  assert.ok(init.args?.includes('--skip-if-initialized'));
  const env = envOf(init.env);
  assert.equal(env['AWS_ENDPOINT_URL_S3'], 'http://s3.example:9000');
  assert.deepEqual(env['AWS_ACCESS_KEY_ID'], { secretKeyRef: { name: 's3-creds', key: 'id' } });
  assert.ok(!(init.volumeMounts ?? []).some((m) => m.name === 'restore-source'));
  const sts = withRestore(buildStatefulSet(c, inputs), c);
  assert.ok(!(sts.spec?.template.spec?.volumes ?? []).some((v) => v.name === 'restore-source'));
  const byTime = buildRestoreInitContainer(c, { s3: { url: 's3://backups/prod/kv/' }, toTime: '2026-12-05T01:48:50Z' });
  assert.equal(byTime.args?.[2], '--to-time=2026-12-05T01:48:50Z');
});

test('spec.restore checks: one source, a point in time only with an S3 prefix, not both targets', () => {
  assert.throws(() => checkRestoreSpec({}), /either claimName and file, or s3/);
  assert.throws(() => checkRestoreSpec({ claimName: 'c', file: 'f', s3: { url: 's3://b/p/' } }), /either/);
  assert.throws(() => checkRestoreSpec({ claimName: 'c' }), /both claimName and file/);
  assert.throws(() => checkRestoreSpec({ claimName: 'c', file: 'f', toRevision: 3 }), /prefix/);
  assert.throws(() => checkRestoreSpec({ s3: { url: 's3://b/p/obj.snap' }, toRevision: 3 }), /prefix/);
  assert.throws(() => checkRestoreSpec({ s3: { url: 's3://b/p/' }, toRevision: 3, toTime: '2026-01-01T00:00:00Z' }), /exclude/);
  assert.throws(() => checkRestoreSpec({ s3: { url: 'http://b/p/' } }), /s3:\/\//);
  checkRestoreSpec({ s3: { url: 's3://b/p/' }, toRevision: 3 });
  checkRestoreSpec({ s3: { url: 's3://b/p/snapshot-x.snap' } });
  checkRestoreSpec({ claimName: 'c', file: 'a/b.snap' });
});

test('a restored cluster may not back up into the prefix it was restored from (its log reuses the old indexes)', () => {
  const backup: BackupSpec = { schedule: '@hourly', keep: 3, s3: { bucket: 'backups', prefix: 'prod/kv/' }, continuous: true };
  for (const url of ['s3://backups/prod/kv/', 's3://backups/prod/kv/snapshot-20261205T014853.754Z-rev2414-a5aaff56.snap']) {
    const c = cluster({ backup, restore: { s3: { url } } });
    assert.throws(() => buildBackupCronJob(c, backup), /new spec\.backup\.s3\.prefix/);
    assert.throws(() => withBackupShipping(buildStatefulSet(c, inputs), c), BackupSpecError);
  }
  const moved = cluster({ backup: { ...backup, s3: { bucket: 'backups', prefix: 'prod/kv-2/' } }, restore: { s3: { url: 's3://backups/prod/kv/' } } });
  assert.ok(withBackupShipping(buildStatefulSet(moved, inputs), moved).spec?.template.spec?.containers[0]?.args?.includes('--backup-ship-to=s3://backups/prod/kv-2/'));
});
