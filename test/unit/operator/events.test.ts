import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBudget } from '../../../operator/src/kube/events.js';

test('a flapping object uses up its own budget only; the others still get their Events', () => {
  const b = new EventBudget({ perObjectPerMinute: 3, totalPerMinute: 100, maxTrackedObjects: 10 });
  const t = 1_000_000;
  const flapping = [...Array(10).keys()].map((i) => b.take('RaftCluster/a/flappy', t + i));
  assert.deepEqual(flapping, [true, true, true, false, false, false, false, false, false, false]);
  assert.equal(b.take('RaftCluster/a/calm', t + 20), true, 'another cluster is not silenced');
  assert.equal(b.take('RaftCluster/a/flappy', t + 60_000), true, 'a new minute, a new budget');
});

test('the total bound still caps all objects together; tracked objects are bounded', () => {
  const b = new EventBudget({ perObjectPerMinute: 5, totalPerMinute: 4, maxTrackedObjects: 3 });
  const t = 5_000_000;
  assert.deepEqual(['x', 'y', 'z', 'w', 'v'].map((k) => b.take(k, t)), [true, true, true, true, false]);
  assert.equal(b.trackedObjects, 3);
  assert.equal(b.take('v', t + 60_000), true);
});
