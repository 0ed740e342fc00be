// GET /v1/watch: SSE events, replay from a revision, 410 when compacted, the watcher bound,
// heartbeats, and clean-up when the client goes away.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { errorCode, raw, startApi } from './harness.js';
import type { TestApi } from './harness.js';

let t: TestApi;
before(async () => {
  t = await startApi({ watchHeartbeatMs: 50 });
});
after(async () => {
  await t.close();
});

interface Stream {
  readonly res: IncomingMessage;
  /** Resolves with the raw text once it contains `count` data events (or rejects after 3 s). */
  events(count: number): Promise<{ type: string; key: string; value: string; revision: number }[]>;
  text(): string;
  close(): void;
}

function open(path: string): Promise<Stream> {
  const u = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let buf = '';
      const waiters: (() => void)[] = [];
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        for (const w of waiters.splice(0)) w();
      });
      const parse = (): { type: string; key: string; value: string; revision: number }[] =>
        buf.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as { type: string; key: string; value: string; revision: number });
      resolve({
        res,
        text: () => buf,
        close: () => req.destroy(),
        events: (count) => new Promise((ok, fail) => {
          const deadline = setTimeout(() => fail(new Error(`timed out waiting for ${count} events; got: ${buf}`)), 3000);
          const check = (): void => {
            const evs = parse();
            if (evs.length >= count) {
              clearTimeout(deadline);
              ok(evs);
            } else waiters.push(check);
          };
          check();
        }),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls `cond` every 20 ms for at most 1 s. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
}

async function put(key: string, value: string): Promise<number> {
  const r = await fetch(`${t.url}/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: value });
  return ((await r.json()) as { revision: number }).revision;
}

test('events for the prefix arrive as SSE data lines, with id = revision', async () => {
  const s = await open('/v1/watch?prefix=w/');
  try {
    assert.equal(s.res.statusCode, 200);
    assert.equal(s.res.headers['content-type'], 'text/event-stream');
    await put('other', 'x');
    const r1 = await put('w/a', 'one');
    await fetch(`${t.url}/v1/kv/w/a`, { method: 'DELETE' });
    const evs = await s.events(2);
    assert.deepEqual(evs[0], { type: 'put', key: 'w/a', value: Buffer.from('one').toString('base64'), revision: r1 });
    assert.equal(evs[1]?.type, 'delete');
    assert.ok(s.text().includes(`id: ${r1}\n`));
  } finally {
    s.close();
  }
});

test('fromRevision replays history first', async () => {
  const r1 = await put('h/a', '1');
  await put('h/b', '2');
  const s = await open(`/v1/watch?prefix=h/&fromRevision=${r1}`);
  try {
    const evs = await s.events(2);
    assert.deepEqual(evs.map((e) => e.key), ['h/a', 'h/b']);
  } finally {
    s.close();
  }
});

test('a compacted revision is 410 GONE', async () => {
  // A store that keeps only 4 events of history: revision 1 is gone after 10 writes.
  const small = await startApi({}, { limits: { maxWatchHistoryEvents: 4 } });
  try {
    for (let i = 0; i < 10; i++) await fetch(`${small.url}/v1/kv/c${i}`, { method: 'PUT', body: 'v' });
    const r = await raw(small.url, 'GET', '/v1/watch?prefix=c&fromRevision=1');
    assert.equal(r.status, 410, r.text);
    assert.equal(errorCode(r.text), 'GONE');
  } finally {
    await small.close();
  }
});

test('heartbeats are sent as SSE comments', async () => {
  const s = await open('/v1/watch?prefix=hb/');
  try {
    await new Promise((r) => setTimeout(r, 150));
    assert.match(s.text(), /: heartbeat\n\n/);
  } finally {
    s.close();
  }
});

test('at most maxWatchers streams; a disconnect frees the slot and the subscription', async () => {
  // Streams of earlier tests unsubscribe when their sockets close: wait for that first.
  await until(() => t.member.sm.watchHub.subscriberCount === 0);
  const base = 0;
  const a = await open('/v1/watch?prefix=x');
  const b = await open('/v1/watch?prefix=y');
  try {
    const third = await raw(t.url, 'GET', '/v1/watch?prefix=z');
    assert.equal(third.status, 429);
    assert.equal(third.headers['retry-after'], '1');
    assert.equal(t.member.sm.watchHub.subscriberCount, base + 2);
  } finally {
    a.close();
  }
  await until(() => t.member.sm.watchHub.subscriberCount === base + 1);
  assert.equal(t.member.sm.watchHub.subscriberCount, base + 1, 'the closed stream unsubscribed');
  const c = await open('/v1/watch?prefix=z');
  assert.equal(c.res.statusCode, 200);
  b.close();
  c.close();
});
