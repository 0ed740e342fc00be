// The test harness's port picker: the kernel may hand a just-released port out again, which once
// gave two members of one cluster the same client port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../lib/free-port.js';

test('freePort never returns a port twice in one process', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 300; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length);
  assert.ok(ports.every((p) => p > 0 && p < 65536));
});
