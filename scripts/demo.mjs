#!/usr/bin/env node
// Starts a 3-member raftkv cluster on 127.0.0.1 (ports 2379/2380, 22379/22380, 32379/32380, or
// free ones when those are taken), data in ./data/demo-*, prints how to talk to it, and stops
// every member cleanly on Ctrl-C (SIGTERM each, wait for the exits).
//   node scripts/demo.mjs [--fresh]     (--fresh deletes ./data/demo-* first)
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, rmSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(repo, 'bin', 'raftkv');
const PREFERRED = [[2379, 2380], [22379, 22380], [32379, 32380]];
/** Bound on waiting for one member to exit after SIGTERM. */
const STOP_TIMEOUT_MS = 12_000;
/** Bound on waiting for the first leader. */
const LEADER_TIMEOUT_MS = 20_000;

if (!existsSync(join(repo, 'dist', 'daemon', 'src', 'main.js'))) {
  console.error('demo: dist/ is missing; run `make build` first');
  process.exit(1);
}
const fresh = process.argv.includes('--fresh');

function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function anyPort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const members = [];
for (let i = 0; i < 3; i++) {
  const [c, p] = PREFERRED[i];
  const client = (await portFree(c)) ? c : await anyPort();
  const peer = (await portFree(p)) ? p : await anyPort();
  const name = `demo-${i + 1}`;
  members.push({ name, client, peer, dataDir: join(repo, 'data', name), logFile: join(repo, 'data', `${name}.log`), proc: null });
}
const initialCluster = members.map((m) => `${m.name}=127.0.0.1:${m.peer}`).join(',');

for (const m of members) {
  if (fresh) rmSync(m.dataDir, { recursive: true, force: true });
  mkdirSync(m.dataDir, { recursive: true });
  const fd = openSync(m.logFile, 'a');
  m.proc = spawn(process.execPath, [bin,
    '--name', m.name, '--data-dir', m.dataDir,
    '--listen-client', `http://127.0.0.1:${m.client}`, '--listen-peer', `127.0.0.1:${m.peer}`,
    '--initial-cluster', initialCluster, '--initial-cluster-state', 'new'], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  m.proc.once('exit', (code, signal) => {
    m.exit = { code, signal };
    if (!stopping) console.log(`demo: ${m.name} exited (code ${code}, signal ${signal}); see ${m.logFile}`);
  });
}

let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  console.log('\ndemo: stopping members (SIGTERM)...');
  await Promise.all(members.map((m) => new Promise((resolve) => {
    if (!m.proc || m.exit) return resolve();
    const t = setTimeout(() => m.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    m.proc.once('exit', (c, s) => {
      clearTimeout(t);
      console.log(`demo: ${m.name} stopped (code ${c}${s ? `, signal ${s}` : ''})`);
      resolve();
    });
    m.proc.kill('SIGTERM');
  })));
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

const until = Date.now() + LEADER_TIMEOUT_MS;
let leader = null;
while (!leader && Date.now() < until && !stopping) {
  await new Promise((r) => setTimeout(r, 200));
  for (const m of members) {
    try {
      const r = await fetch(`http://127.0.0.1:${m.client}/v1/status`, { signal: AbortSignal.timeout(1000) });
      const s = await r.json();
      if (s.role === 'leader') leader = m;
    } catch {
      // not up yet
    }
  }
}
if (!leader) {
  console.error(`demo: no leader within ${LEADER_TIMEOUT_MS} ms; logs in ./data/demo-*.log`);
  await stopAll(1);
}
const endpoints = members.map((m) => `http://127.0.0.1:${m.client}`).join(',');
console.log(`raftkv demo: 3 members up, leader ${leader.name}
${members.map((m) => `  ${m.name}: client http://127.0.0.1:${m.client}  peer 127.0.0.1:${m.peer}  data ${m.dataDir}  log ${m.logFile}`).join('\n')}

Try:
  curl -s -X PUT --data-binary 'hello' http://127.0.0.1:${leader.client}/v1/kv/greeting
  curl -s http://127.0.0.1:${members[0].client}/v1/kv/greeting
  curl -s -L -X PUT --data-binary 'via follower' http://127.0.0.1:${members.find((m) => m !== leader).client}/v1/kv/other   # -L follows the 307
  curl -s http://127.0.0.1:${members[0].client}/v1/status
  bin/raftctl --endpoints ${endpoints} put greeting hi
  bin/raftctl --endpoints ${endpoints} get greeting
  bin/raftctl --endpoints ${endpoints} status
  bin/raftctl --endpoints ${endpoints} leader transfer

Ctrl-C stops every member cleanly.`);
