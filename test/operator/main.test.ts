// The raftkv-operator process itself (main.ts): flags, kubeconfig, leader election, a reconcile,
// /healthz and /metrics, and a clean exit 0 on SIGTERM. Killed by pid on any failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'operator', 'src', 'main.js');
let cp: KubeControlPlane;
let child: ChildProcess | undefined;

before(async () => {
  cp = await startKubeControlPlane();
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
});

after(async () => {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  await cp?.stop();
});

test('bad flags exit 2 with the usage line', async () => {
  const p = spawn(process.execPath, [MAIN, '--nope'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const code = await new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  assert.equal(code, 2);
  assert.match(err, /usage: raftkv-operator/);
});

test('starts, leads, creates the StatefulSet for a new RaftCluster, serves /healthz and /metrics, exits 0 on SIGTERM', async () => {
  const c = spawn(process.execPath, [MAIN, '--kubeconfig', cp.kubeconfigPath, '--namespaces', 'default', '--metrics-port', '0', '--lease-namespace', 'default', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = c;
  let out = '';
  c.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  c.stderr?.on('data', (b: Buffer) => { out += b.toString(); });
  const deadline = Date.now() + 20_000;
  while (!/became leader/.test(out) || !/"metricsPort":\d+/.test(out)) {
    assert.ok(Date.now() < deadline, `operator did not start and lead:\n${out}`);
    assert.equal(c.exitCode, null, `operator exited:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const port = Number(/"metricsPort":(\d+)/.exec(out)?.[1]);
  assert.equal((await cp.request('POST', '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters', { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'm' }, spec: { replicas: 3, image: 'raftkv:test' } })).status, 201);
  for (;;) {
    const r = await cp.request('GET', '/apis/apps/v1/namespaces/default/statefulsets/m');
    if (r.status === 200) break;
    assert.ok(Date.now() < deadline, `no StatefulSet:\n${out}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), /raftkv_operator_reconciles_total/);
  const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
  if (c.pid !== undefined) process.kill(c.pid, 'SIGTERM');
  const timer = setTimeout(() => c.pid !== undefined && c.exitCode === null && process.kill(c.pid, 'SIGKILL'), 10_000);
  assert.equal(await exited, 0, out);
  clearTimeout(timer);
});
