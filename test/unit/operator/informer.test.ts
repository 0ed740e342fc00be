// The informer against a small fake API server: initial list, watch events, and a fresh list
// after the watch reports 410 Gone (the resourceVersion was compacted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Informer } from '../../../operator/src/kube/informer.js';
import { KubeClient } from '../../../operator/src/kube/rest.js';
import type { KubeObject } from '../../../operator/src/kube/rest.js';

test('lists, watches, and re-lists after 410 Gone, reporting the deletions it missed', async () => {
  let items = [{ metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' } }, { metadata: { name: 'b', namespace: 'ns', resourceVersion: '2' } }];
  const watchRvs: string[] = [];
  let watches = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') !== 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ metadata: { resourceVersion: items.length === 2 ? '10' : '20' }, items }));
      return;
    }
    watches++;
    watchRvs.push(url.searchParams.get('resourceVersion') ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    if (watches === 1) {
      res.write(`${JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'a', namespace: 'ns', resourceVersion: '11' } } })}\n`);
      // Meanwhile 'b' is deleted and the history compacted: the next watch gets 410.
      items = [{ metadata: { name: 'a', namespace: 'ns', resourceVersion: '11' } }];
      setTimeout(() => res.end(), 50);
    } else if (watches === 2) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } })}\n`);
    } else {
      // Keep the last watch open until the test stops the informer.
      res.write('');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  const events: string[] = [];
  const inf = new Informer<KubeObject>(new KubeClient(kc), '/apis/x/v1/things', (type, obj) => events.push(`${type} ${obj.metadata?.name ?? ''}`), () => undefined,
    { minBackoffMs: 20, maxBackoffMs: 100, watchTimeoutSeconds: 60, listLimit: 100 });
  try {
    await inf.start();
    const deadline = Date.now() + 5000;
    while (inf.lists < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(inf.lists, 2, 'a fresh list after 410');
    assert.deepEqual(events, ['ADDED a', 'ADDED b', 'MODIFIED a', 'DELETED b']);
    assert.equal(watchRvs[0], '10', 'first watch from the list resourceVersion');
    assert.equal(watchRvs[1], '11', 'resumes from the last event seen');
    assert.equal(watchRvs[2], '20', 'after 410, watches from the new list');
    assert.deepEqual(inf.list().map((o) => o.metadata?.name), ['a']);
  } finally {
    inf.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
