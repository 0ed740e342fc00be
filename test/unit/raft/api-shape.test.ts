// The driver (server.ts) codes against DriverRaftNode: RawNode must satisfy it structurally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DriverRaftNode } from '../../../daemon/src/server.js';
import { RawNode } from '../../../daemon/src/raft/index.js';
import { baseConfig } from './harness.js';

test('RawNode satisfies the driver\'s DriverRaftNode interface', () => {
  const node: DriverRaftNode = new RawNode(baseConfig('a'), {
    hardState: { term: 0, vote: '', commit: 0 },
    snapshot: { index: 0, term: 0, confState: { voters: ['a'], learners: [] } },
    entries: [],
  });
  node.tick();
  assert.equal(node.status().id, 'a');
});
