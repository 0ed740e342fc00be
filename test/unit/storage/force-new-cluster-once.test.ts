// --force-new-cluster-id: the recovery rewrite runs once per id on the member it names, on a real
// RocksDB data dir, so an orchestrator may leave the flag in a pod template across restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../../daemon/src/config/flags.js';
import type { DaemonConfig } from '../../../daemon/src/config/flags.js';
import { RocksRaftStorage } from '../../../daemon/src/storage/rocks-raft-storage.js';
import { EntryType } from '../../../daemon/src/raft/types.js';
import { kvCommandEncoder } from '../../../daemon/src/kv/index.js';
import { META_KEYS, planStart } from '../../../daemon/src/server/bootstrap.js';
import { FORCE_NEW_CLUSTER_ID_META, forceNewClusterIfAsked, forceNewClusterWanted } from '../../../daemon/src/server/recovery.js';

const INITIAL = 'n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3';

function config(name: string, extra: string[]): DaemonConfig {
  const r = parseFlags(['--name', name, '--initial-cluster', INITIAL, '--listen-peer', '127.0.0.1:1', ...extra], {});
  if (r.kind !== 'run') throw new Error('help');
  return r.config;
}

const quiet = { warn: (): void => undefined, info: (): void => undefined };

test('flags: --force-new-cluster-id with an optional member; a member without an id is refused; ids are checked', () => {
  assert.equal(config('n1', []).forceNewClusterOnce, null);
  assert.deepEqual(config('n1', ['--force-new-cluster-id', 'r-1']).forceNewClusterOnce, { id: 'r-1', member: null });
  assert.deepEqual(config('n1', ['--force-new-cluster-id', 'r-1', '--force-new-cluster-member', 'n2']).forceNewClusterOnce, { id: 'r-1', member: 'n2' });
  const env = parseFlags(['--name', 'n1'], { RAFTKV_FORCE_NEW_CLUSTER_ID: 'x', RAFTKV_FORCE_NEW_CLUSTER_MEMBER: 'n1' });
  assert.ok(env.kind === 'run' && env.config.forceNewClusterOnce?.member === 'n1');
  assert.throws(() => config('n1', ['--force-new-cluster-member', 'n1']), /needs --force-new-cluster-id/);
  assert.throws(() => config('n1', ['--force-new-cluster-id', 'a b']), /must be 1-128 characters/);
});

test('forceNewClusterWanted: only the named member, only while the data dir has not done that id', () => {
  const on = (name: string, member: string | null) => ({ name, forceNewCluster: false, forceNewClusterOnce: { id: 'r-1', member } });
  assert.equal(forceNewClusterWanted(on('n1', 'n1'), {}), true);
  assert.equal(forceNewClusterWanted(on('n2', 'n1'), {}), false, 'another member ignores it');
  assert.equal(forceNewClusterWanted(on('n2', null), {}), true);
  assert.equal(forceNewClusterWanted(on('n1', 'n1'), { [FORCE_NEW_CLUSTER_ID_META]: 'r-1' }), false, 'done once');
  assert.equal(forceNewClusterWanted(on('n1', 'n1'), { [FORCE_NEW_CLUSTER_ID_META]: 'r-0' }), true, 'a new id runs again');
  assert.equal(forceNewClusterWanted({ name: 'n1', forceNewCluster: true, forceNewClusterOnce: null }, { [FORCE_NEW_CLUSTER_ID_META]: 'r-1' }), true, 'the plain flag always acts');
  assert.equal(forceNewClusterWanted({ name: 'n1', forceNewCluster: false, forceNewClusterOnce: null }, {}), false);
});

test('a real data dir: the first start with the id rewrites the membership to n1 alone, keeps the data and records the id; a later start with it changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-fnc-once-'));
  try {
    const cfg = config('n1', ['--data-dir', dir, '--force-new-cluster-id', 'r-7', '--force-new-cluster-member', 'n1']);
    let storage = new RocksRaftStorage(dir);
    try {
      const fresh = await storage.load();
      const plan = planStart(cfg, fresh);
      assert.ok(plan.newBootstrap !== null);
      await storage.putMeta(META_KEYS.bootstrap, JSON.stringify(plan.newBootstrap));
      const put = (i: number): Uint8Array => kvCommandEncoder.put({ key: `k${i}`, value: new TextEncoder().encode(`v${i}`), proposedAtMs: i });
      // Three entries, two known committed: the third is kept (the documented risk of the rewrite).
      await storage.persist({ hardState: { term: 2, vote: 'n2', commit: 2 }, entries: [1, 2, 3].map((i) => ({ term: 2, index: i, type: EntryType.Normal, data: put(i) })) });

      const before = await storage.load();
      const forced = await forceNewClusterIfAsked(storage, before, cfg, quiet);
      assert.deepEqual(forced.snapshot?.meta.confState, { voters: ['n1'], learners: [] });
      assert.equal(forced.snapshot?.meta.index, 3);
      assert.equal(forced.hardState.commit, 3);
      assert.equal(forced.meta[FORCE_NEW_CLUSTER_ID_META], 'r-7');
    } finally {
      await storage.close();
    }

    // Restart with the same flags (the pod template still carries them): nothing is rewritten.
    storage = new RocksRaftStorage(dir);
    try {
      const again = await storage.load();
      assert.equal(again.meta[FORCE_NEW_CLUSTER_ID_META], 'r-7', 'the id is durable');
      assert.deepEqual(again.snapshot?.meta.confState, { voters: ['n1'], learners: [] });
      const same = await forceNewClusterIfAsked(storage, again, cfg, quiet);
      assert.equal(same, again, 'the loaded state is used as it is');
      // Another member's id leaves this data dir alone even when it was never forced before.
      const other = config('n1', ['--data-dir', dir, '--force-new-cluster-id', 'r-8', '--force-new-cluster-member', 'n2']);
      assert.equal(await forceNewClusterIfAsked(storage, again, other, quiet), again);
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
