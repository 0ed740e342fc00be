// The RestoreBackup drill (a RaftChaosDrill action): proves the newest backup under a cluster's
// spec.backup.s3 prefix restores. It streams the object once through the checksum verifier (trailer
// and the SHA-256 recorded on the object) reading its header (revision, key count), creates a
// one-member scratch RaftCluster restored from that object (the same spec.restore.s3 path a real
// recovery takes), waits until it runs, checks that it serves exactly that revision and key
// count, then deletes the scratch cluster and its PVC. Every wait is bounded; the scratch cluster
// is owned by the drill, so deleting the drill also removes it.
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RaftChaosDrill, RaftCluster } from '../api/types.js';
import { API_VERSION } from '../api/types.js';
import { s3OptionsForConnection } from '../backup/s3-access.js';
import { memberName, pvcName } from '../build/names.js';
import { backupPrefix } from '../build/s3.js';
import type { KubeObject } from '../kube/rest.js';
import { resourcePath } from '../kube/rest.js';
import { MemberClient } from '../member-client/client.js';
import { openBackupStore } from '../../../daemon/src/backup/stores.js';
import { VerifyingStream } from '../../../daemon/src/backup/transfer.js';
import { BackupFormatError } from '../../../daemon/src/server/backup-file.js';
import type { ControllerDeps } from './raftcluster.js';

/** Bounds of a restore drill. */
export interface RestoreDrillOptions {
  /** Longest wait for the scratch cluster to run (image pull, restore, start). */
  readonly readyTimeoutMs: number;
  /** Longest wait for the scratch cluster to be gone after its deletion. */
  readonly deleteTimeoutMs: number;
  readonly pollMs: number;
  /** Keys per page when counting the scratch cluster's keys (a page's values must fit the member client's response bound). */
  readonly pageKeys: number;
  /** Most keys counted (a bound on the pages read). */
  readonly maxKeys: number;
}

export const DEFAULT_RESTORE_DRILL_OPTIONS: RestoreDrillOptions = { readyTimeoutMs: 10 * 60_000, deleteTimeoutMs: 2 * 60_000, pollMs: 1000, pageKeys: 100, maxKeys: 50_000_000 };

/** What a passed drill verified. */
export interface VerifiedBackup {
  readonly url: string;
  readonly revision: number;
  readonly keys: number;
  readonly sha256: string;
  readonly bytes: number;
  /** When the backup was taken (from its name). */
  readonly takenAt: string;
  readonly scratchCluster: string;
}

/** A drill that did not verify the backup; the message says what differed or failed. */
export class RestoreDrillFailure extends Error {
  override readonly name = 'RestoreDrillFailure';
}

/** Header fields the drill compares (backup-file.ts's header). */
interface HeadFields { revision: number; keys: number }

/** Collects the header from the first bytes of a backup stream (magic, u32 length, JSON), passing everything on. */
class HeaderReader extends Writable {
  private head = Buffer.alloc(0);
  header: HeadFields | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.header === undefined && this.head.length < 64 * 1024 + 12) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, 64 * 1024 + 12 - this.head.length)]);
      if (this.head.length >= 12) {
        const len = this.head.readUInt32BE(8);
        if (this.head.length >= 12 + len) {
          try {
            const h = JSON.parse(this.head.subarray(12, 12 + len).toString('utf8')) as Partial<HeadFields>;
            if (typeof h.revision === 'number' && typeof h.keys === 'number') this.header = { revision: h.revision, keys: h.keys };
          } catch {
            // left undefined: reported after the stream
          }
        }
      }
    }
    done();
  }
}

/** The scratch RaftCluster: one member restored from `url`, owned by the drill. */
export function scratchClusterFor(drill: RaftChaosDrill, cluster: RaftCluster, url: string): RaftCluster {
  const s3 = cluster.spec.backup?.s3;
  const conn = s3 === undefined ? {} : {
    ...(s3.endpoint === undefined ? {} : { endpoint: s3.endpoint }), ...(s3.region === undefined ? {} : { region: s3.region }),
    ...(s3.forcePathStyle === undefined ? {} : { forcePathStyle: s3.forcePathStyle }),
    ...(s3.credentialsSecret === undefined ? {} : { credentialsSecret: s3.credentialsSecret }), ...(s3.caSecret === undefined ? {} : { caSecret: s3.caSecret }),
  };
  return {
    apiVersion: API_VERSION, kind: 'RaftCluster',
    metadata: {
      name: scratchName(drill), namespace: drill.metadata.namespace ?? 'default',
      labels: { 'raftkv.dev/restore-drill-of': cluster.metadata.name },
      ...(drill.metadata.uid === undefined ? {} : { ownerReferences: [{ apiVersion: API_VERSION, kind: 'RaftChaosDrill', name: drill.metadata.name, uid: drill.metadata.uid, controller: true }] }),
    },
    spec: {
      replicas: 1, image: cluster.spec.image, ...(cluster.spec.imagePullPolicy === undefined ? {} : { imagePullPolicy: cluster.spec.imagePullPolicy }),
      storage: cluster.spec.storage, raft: cluster.spec.raft,
      ...(cluster.spec.resources === undefined ? {} : { resources: cluster.spec.resources }),
      restore: { s3: { url, ...conn } },
      replaceUnhealthyAfterSeconds: 0,
    },
  };
}

/** `<drill>-scratch`, cut so its member pods' names stay within 63 characters. */
export function scratchName(drill: RaftChaosDrill): string {
  return `${drill.metadata.name.slice(0, 40).replace(/-+$/, '')}-scratch`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs the drill; resolves with what it verified, throws RestoreDrillFailure (or another error) otherwise. The scratch cluster is always deleted. */
export async function runRestoreDrill(deps: ControllerDeps, drill: RaftChaosDrill, cluster: RaftCluster, options: RestoreDrillOptions, progress: (message: string) => Promise<void>): Promise<VerifiedBackup> {
  const ns = drill.metadata.namespace ?? 'default';
  const s3 = cluster.spec.backup?.s3;
  if (s3 === undefined) throw new RestoreDrillFailure(`RaftCluster ${cluster.metadata.name} has no spec.backup.s3: nothing to restore from`);
  const store = await openBackupStore({ kind: 's3', bucket: s3.bucket, prefix: backupPrefix(cluster, s3), object: null }, await s3OptionsForConnection(deps.client, ns, s3));
  let newest;
  let head: HeadFields | undefined;
  let verify: VerifyingStream;
  try {
    await store.check();
    newest = (await store.list()).at(-1);
    if (newest === undefined) throw new RestoreDrillFailure(`no backups under ${store.url}`);
    await progress(`verifying the checksum of ${newest.url}`);
    const opened = await store.open(newest.name);
    verify = new VerifyingStream(opened.meta?.sha256 ?? null);
    const reader = new HeaderReader();
    try {
      await pipeline(opened.stream, verify, reader);
    } catch (err) {
      if (err instanceof BackupFormatError) throw new RestoreDrillFailure(`${newest.url}: ${err.message}`);
      throw err;
    }
    head = reader.header;
    if (head === undefined) throw new RestoreDrillFailure(`${newest.url}: no readable backup header`);
  } finally {
    store.close();
  }
  const scratch = scratchClusterFor(drill, cluster, newest.url);
  const scratchPath = resourcePath(API_VERSION, 'RaftCluster', ns, scratch.metadata.name);
  await progress(`restoring ${newest.url} (revision ${head.revision}, ${head.keys} keys) into scratch cluster ${scratch.metadata.name}`);
  await deps.client.create(resourcePath(API_VERSION, 'RaftCluster', ns), scratch as unknown as KubeObject);
  try {
    const member = memberName(scratch, 0);
    const client = new MemberClient(deps.memberUrl(scratch, member), deps.memberClientOptions);
    const deadline = deps.now() + options.readyTimeoutMs;
    for (;;) {
      const now = await deps.client.get<RaftCluster & KubeObject>(scratchPath);
      if (now?.status?.phase === 'Running' && await client.status().then((s) => s.role === 'leader', () => false)) break;
      if (deps.now() > deadline) {
        const restored = now?.status?.conditions?.find((c) => c.type === 'Restored');
        throw new RestoreDrillFailure(`scratch cluster ${scratch.metadata.name} did not run within ${options.readyTimeoutMs} ms (phase ${now?.status?.phase ?? 'none'}${restored !== undefined ? `, Restored ${restored.status}: ${restored.message}` : ''}); check its restore init container's log`);
      }
      await sleep(options.pollMs);
    }
    const counted = await countKeys(client, options);
    if (counted.revision !== head.revision || counted.keys !== head.keys) {
      throw new RestoreDrillFailure(`scratch cluster serves revision ${counted.revision} with ${counted.keys} keys; the backup holds revision ${head.revision} with ${head.keys} keys`);
    }
    return { url: newest.url, revision: head.revision, keys: head.keys, sha256: verify.digest(), bytes: verify.bytes, takenAt: new Date(newest.takenAtMs).toISOString(), scratchCluster: scratch.metadata.name };
  } finally {
    await deleteScratch(deps, scratch, options);
  }
}

/** Revision and key count of the scratch member (linearizable pages, bounded). */
async function countKeys(client: MemberClient, options: RestoreDrillOptions): Promise<{ revision: number; keys: number }> {
  let keys = 0;
  let after: string | undefined;
  let revision = -1;
  for (;;) {
    const page = await client.listPage(options.pageKeys, after);
    if (revision === -1) revision = page.revision;
    keys += page.keys.length;
    if (!page.more || page.keys.length === 0) return { revision, keys };
    if (keys > options.maxKeys) throw new RestoreDrillFailure(`more than ${options.maxKeys} keys: not counted to the end`);
    after = page.keys.at(-1);
  }
}

/** Deletes the scratch cluster, waits (bounded) until it is gone, then its PVC. */
async function deleteScratch(deps: ControllerDeps, scratch: RaftCluster, options: RestoreDrillOptions): Promise<void> {
  const ns = scratch.metadata.namespace ?? 'default';
  const path = resourcePath(API_VERSION, 'RaftCluster', ns, scratch.metadata.name);
  await deps.client.delete(path);
  const deadline = deps.now() + options.deleteTimeoutMs;
  while (await deps.client.get(path) !== undefined && deps.now() < deadline) await sleep(options.pollMs);
  await deps.client.delete(resourcePath('v1', 'PersistentVolumeClaim', ns, pvcName(scratch, 0)));
}
