// RaftBackup reconciler: one on-demand backup of a RaftCluster into its spec.backup.s3 prefix, taken
// by the operator itself (the leader's GET /v1/snapshot streamed into S3 with the daemon's store
// code: verified on the way, checksum recorded on the object, a name that never collides), so the
// status can say exactly what was saved. A failed attempt is retried with backoff up to
// RAFTBACKUP_MAX_ATTEMPTS; Succeeded and Failed are final. Retention stays the CronJob's
// (spec.backup.keep / keepWithin apply at its next run).
import type { RaftBackup, RaftBackupStatus, RaftCluster } from '../api/types.js';
import { API_VERSION } from '../api/types.js';
import { s3OptionsForConnection } from '../backup/s3-access.js';
import { memberName } from '../build/names.js';
import { backupPrefix } from '../build/s3.js';
import type { KubeObject } from '../kube/rest.js';
import { resourcePath } from '../kube/rest.js';
import { MemberClient } from '../member-client/client.js';
import { openBackupStore } from '../../../daemon/src/backup/stores.js';
import { saveToStore } from '../../../daemon/src/backup/transfer.js';
import { isoSeconds } from './conditions.js';
import type { ControllerDeps } from './raftcluster.js';
import { readMemberCredentials } from './security.js';
import type { ReconcileResult } from './steps.js';

/** Attempts at one RaftBackup before it is Failed. */
export const RAFTBACKUP_MAX_ATTEMPTS = 3;
/** Pause before the next attempt (doubled each time). */
export const RAFTBACKUP_RETRY_MS = 2000;
/** Longest one attempt may take (connect, stream, upload) before it is abandoned. */
export const RAFTBACKUP_ATTEMPT_TIMEOUT_MS = 10 * 60_000;

const NONE: ReconcileResult = { requeueAfterMs: undefined, reason: 'nothing to do' };

/** The error text of a failed attempt, one line. */
function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]?.slice(0, 500) ?? 'error';
}

/** Takes RaftBackups. */
export class RaftBackupController {
  constructor(private readonly deps: ControllerDeps) {}

  private path(ns: string, name?: string, sub?: string): string {
    return resourcePath(API_VERSION, 'RaftBackup', ns, name, sub);
  }

  private async writeStatus(ns: string, name: string, status: RaftBackupStatus): Promise<void> {
    await this.deps.client.mergePatch(this.path(ns, name, 'status'), { status });
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [ns, name] = key.split('/') as [string, string];
    const backup = await this.deps.client.get<RaftBackup & KubeObject>(this.path(ns, name));
    if (backup === undefined || backup.metadata.deletionTimestamp !== undefined) return NONE;
    const st = backup.status ?? {};
    if (st.phase === 'Succeeded' || st.phase === 'Failed') return NONE;
    const gen = backup.metadata.generation === undefined ? {} : { observedGeneration: backup.metadata.generation };
    const fail = async (message: string): Promise<ReconcileResult> => {
      await this.writeStatus(ns, name, { phase: 'Failed', finishedAt: isoSeconds(this.deps.now()), message, ...gen });
      await this.deps.events.record(backup, 'Warning', 'BackupFailed', message);
      return NONE;
    };
    const clusterName = backup.spec.clusterRef.name;
    const cluster = await this.deps.client.get<RaftCluster & KubeObject>(resourcePath(API_VERSION, 'RaftCluster', ns, clusterName));
    if (cluster === undefined) return fail(`RaftCluster ${ns}/${clusterName} not found`);
    const target = cluster.spec.backup?.s3;
    if (target === undefined) return fail(`RaftCluster ${ns}/${clusterName} has no spec.backup.s3: an on-demand backup goes to that prefix`);
    const attempts = (st.attempts ?? 0) + 1;
    const startedAt = st.startedAt ?? isoSeconds(this.deps.now());
    await this.writeStatus(ns, name, { phase: 'Running', startedAt, attempts, message: `attempt ${attempts} of ${RAFTBACKUP_MAX_ATTEMPTS}`, ...gen });
    try {
      const saved = await this.takeBackup(cluster, ns, target.bucket, backupPrefix(cluster, target));
      await this.writeStatus(ns, name, {
        phase: 'Succeeded', startedAt, finishedAt: isoSeconds(this.deps.now()), url: saved.url, member: saved.member, index: saved.index, revision: saved.revision,
        sizeBytes: saved.bytes, sha256: saved.sha256, durationMs: saved.ms, attempts, message: `saved revision ${saved.revision} (${saved.bytes} bytes) in ${saved.ms} ms`, ...gen,
      });
      await this.deps.events.record(backup, 'Normal', 'BackupSucceeded', `${saved.url}: revision ${saved.revision}, ${saved.bytes} bytes`);
      this.deps.log.info({ backup: key, url: saved.url, revision: saved.revision }, 'on-demand backup saved');
      return NONE;
    } catch (err) {
      const message = oneLine(err);
      if (attempts >= RAFTBACKUP_MAX_ATTEMPTS) return fail(`attempt ${attempts} of ${RAFTBACKUP_MAX_ATTEMPTS} failed: ${message}`);
      await this.writeStatus(ns, name, { phase: 'Running', startedAt, attempts, message: `attempt ${attempts} of ${RAFTBACKUP_MAX_ATTEMPTS} failed, retrying: ${message}`, ...gen });
      return { requeueAfterMs: RAFTBACKUP_RETRY_MS * 2 ** (attempts - 1), reason: 'backup attempt failed' };
    }
  }

  /** The leader's (or, without one known, member 0's) backup streamed into the prefix, bounded in time. */
  private async takeBackup(cluster: RaftCluster, ns: string, bucket: string, prefix: string): Promise<{ url: string; member: string; index: number; revision: number; bytes: number; sha256: string; ms: number }> {
    const s3 = cluster.spec.backup?.s3;
    if (s3 === undefined) throw new Error('no spec.backup.s3');
    const options = await s3OptionsForConnection(this.deps.client, ns, s3);
    const credentials = await readMemberCredentials(this.deps.client, cluster);
    const member = cluster.status?.leader ?? memberName(cluster, 0);
    const store = await openBackupStore({ kind: 's3', bucket, prefix, object: null }, options);
    let timer: NodeJS.Timeout | undefined;
    try {
      // A wrong bucket or bad credentials fail before the member does any work.
      await store.check();
      const client = new MemberClient(this.deps.memberUrl(cluster, member), this.deps.memberClientOptions, credentials);
      const opened = await client.openSnapshot();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          opened.stream.destroy();
          reject(new Error(`backup took longer than ${RAFTBACKUP_ATTEMPT_TIMEOUT_MS} ms`));
        }, RAFTBACKUP_ATTEMPT_TIMEOUT_MS);
      });
      const saved = await Promise.race([saveToStore({ endpoint: member, headers: opened.headers, stream: opened.stream }, store, this.deps.now()), timeout]);
      return { url: saved.url, member, index: saved.index, revision: saved.revision, bytes: saved.bytes, sha256: saved.sha256, ms: saved.ms };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      store.close();
    }
  }
}
