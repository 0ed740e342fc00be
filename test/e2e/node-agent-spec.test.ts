// The node agent's pure parts (how a container becomes a local process) and its DNS preload,
// checked without a control plane. These run in the e2e tier because they only exist for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PodFacts } from '../lib/node-agent-spec.js';
import { ContainerConfigError, afterExit, entrypointFor, expandVars, hostsText, localProcessSpec, localizeValue, podPhaseOf, probeTarget, resolveEnv, restartPolicyOf, secretVolumeFiles, serviceBackends } from '../lib/node-agent-spec.js';
import { writeAtomicDir } from '../lib/node-agent.js';
import { isClusterName, parseHosts } from '../lib/node-agent-resolver.js';

const RESOLVER = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'node-agent-resolver.js');
const POD: PodFacts = {
  name: 'kv-1', namespace: 'ns1', uid: 'u-1', nodeName: 'e2e-node', podIP: '127.0.0.12', hostIP: '127.0.0.1',
  serviceAccountName: 'default', labels: { app: 'raftkv' }, annotations: {},
};

test('$(VAR) expansion as the kubelet does it: defined vars, $$ escapes, undefined refs left alone', () => {
  const vars = new Map([['POD_NAME', 'kv-1'], ['NS', 'ns1']]);
  assert.equal(expandVars('--name=$(POD_NAME)', vars), '--name=kv-1');
  assert.equal(expandVars('$(POD_NAME).peer.$(NS).svc', vars), 'kv-1.peer.ns1.svc');
  assert.equal(expandVars('$$(POD_NAME)', vars), '$(POD_NAME)');
  assert.equal(expandVars('$(MISSING)-$(POD_NAME', vars), '$(MISSING)-$(POD_NAME');
  assert.equal(expandVars('cost $5', vars), 'cost $5');
});

test('env: fieldRef, configMapKeyRef, later entries see earlier ones; a missing key is a config error', async () => {
  const lookup = async (kind: string, name: string, key: string): Promise<string | undefined> =>
    kind === 'ConfigMap' && name === 'cfg' && key === 'initial-cluster' ? 'kv-0=a:2380' : undefined;
  const vars = await resolveEnv([
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
    { name: 'RAFTKV_INITIAL_CLUSTER', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'initial-cluster' } } },
    { name: 'GREETING', value: 'hi $(POD_NAME)' },
    { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope', optional: true } } },
  ], POD, lookup);
  assert.deepEqual(Object.fromEntries(vars), { POD_NAME: 'kv-1', IP: '127.0.0.12', APP: 'raftkv', RAFTKV_INITIAL_CLUSTER: 'kv-0=a:2380', GREETING: 'hi kv-1' });
  await assert.rejects(resolveEnv([{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope' } } }], POD, lookup), ContainerConfigError);
  await assert.rejects(resolveEnv([{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.nope' } } }], POD, lookup), ContainerConfigError);
});

test('args are localised: wildcard listens become the pod IP, mounted paths the volume directory', () => {
  const mounts = [{ mountPath: '/var/lib/raftkv', hostPath: '/tmp/vol/pvc-1' }, { mountPath: '/var/lib/raftkv/extra', hostPath: '/tmp/vol/x' }];
  const spec = localProcessSpec([
    '--name=$(POD_NAME)', '--data-dir=/var/lib/raftkv/data', '--listen-client=http://0.0.0.0:2379', '--listen-peer=0.0.0.0:2380',
    '--advertise-peer=$(POD_NAME).kv-peer.ns1.svc:2380', '--other=/var/lib/raftkvX', '/var/lib/raftkv/extra/f', '--host=10.0.0.0:1',
  ], new Map([['POD_NAME', 'kv-1'], ['RAFTKV_DATA_DIR', '/var/lib/raftkv']]), mounts, '127.0.0.12');
  assert.deepEqual(spec.args, [
    '--name=kv-1', '--data-dir=/tmp/vol/pvc-1/data', '--listen-client=http://127.0.0.12:2379', '--listen-peer=127.0.0.12:2380',
    '--advertise-peer=kv-1.kv-peer.ns1.svc:2380', '--other=/var/lib/raftkvX', '/tmp/vol/x/f', '--host=10.0.0.0:1',
  ]);
  assert.equal(spec.env['RAFTKV_DATA_DIR'], '/tmp/vol/pvc-1');
  assert.equal(localizeValue('[::]:2380', [], '127.0.0.9'), '127.0.0.9:2380');
});

test('ClusterIP Service names resolve to one ready selected pod (no kube-proxy here); headless, selector-less or backend-less ones do not', () => {
  const pods = [
    { name: 'kv-1', namespace: 'ns1', ip: '127.0.0.12', ready: true, labels: { app: 'kv', role: 'member' } },
    { name: 'kv-0', namespace: 'ns1', ip: '127.0.0.11', ready: false, labels: { app: 'kv', role: 'member' } },
    { name: 'kv-2', namespace: 'ns1', ip: '127.0.0.13', ready: true, labels: { app: 'kv', role: 'member' } },
    { name: 'kv-backup-x', namespace: 'ns1', ip: '127.0.0.14', ready: true, labels: { app: 'kv-backup' } },
    { name: 'kv-1', namespace: 'ns2', ip: '127.0.0.15', ready: true, labels: { app: 'kv', role: 'member' } },
  ];
  const services = [
    { name: 'kv', namespace: 'ns1', clusterIP: '10.0.0.1', selector: { app: 'kv' } },
    { name: 'kv-peer', namespace: 'ns1', clusterIP: 'None', selector: { app: 'kv' } },
    { name: 'external', namespace: 'ns1', clusterIP: '10.0.0.2' },
    { name: 'nothing', namespace: 'ns1', clusterIP: '10.0.0.3', selector: { app: 'absent' } },
  ];
  const entries = serviceBackends(services, pods);
  assert.deepEqual(entries, [{ ip: '127.0.0.12', service: 'kv', namespace: 'ns1' }], 'the first READY pod by name, same namespace; not the unready kv-0');
  const table = parseHosts(hostsText([], entries));
  assert.equal(table.get('kv.ns1.svc'), '127.0.0.12');
  assert.equal(table.get('kv.ns1.svc.cluster.local'), '127.0.0.12');
  assert.equal(table.get('kv-peer.ns1.svc'), undefined);
});

test('hosts file: headless-service names of pods; the preload resolves them and refuses unknown cluster names', () => {
  const text = hostsText([{ ip: '127.0.0.12', hostname: 'kv-1', subdomain: 'kv-peer', namespace: 'ns1' }]);
  const table = parseHosts(text);
  assert.equal(table.get('kv-1.kv-peer.ns1.svc'), '127.0.0.12');
  assert.equal(table.get('kv-1.kv-peer.ns1.svc.cluster.local'), '127.0.0.12');
  assert.ok(isClusterName('kv-9.kv-peer.ns1.svc') && isClusterName('x.svc.cluster.local.') && !isClusterName('localhost'));

  // In a real process: a published name resolves through net/http/fetch; an unpublished `.svc`
  // name fails with ENOTFOUND (the known-bad case: a pod whose DNS record is missing).
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-resolver-'));
  try {
    writeFileSync(join(dir, 'hosts'), text);
    const script = [
      "import dns from 'node:dns';",
      "const one = await dns.promises.lookup('kv-1.kv-peer.ns1.svc');",
      "const bad = await dns.promises.lookup('kv-2.kv-peer.ns1.svc').then(() => 'resolved', (e) => e.code);",
      "const cb = await new Promise((r) => dns.lookup('kv-1.kv-peer.ns1.svc.cluster.local', { all: true }, (e, a) => r(a)));",
      'console.log(JSON.stringify({ one, bad, cb }));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(RESOLVER).href, '--input-type=module', '-e', script], {
      env: { PATH: process.env['PATH'] ?? '', NODE_AGENT_HOSTS_FILE: join(dir, 'hosts') }, encoding: 'utf8', timeout: 20_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { one: { address: '127.0.0.12', family: 4 }, bad: 'ENOTFOUND', cb: [{ address: '127.0.0.12', family: 4 }] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('entry points: no command or raftkv → the daemon, raftctl → the client (rest of the command first), anything else refused', () => {
  const entries = { raftkv: '/out/daemon/src/main.js', raftctl: '/out/daemon/src/cli/raftctl.js' };
  assert.deepEqual(entrypointFor(undefined, entries), { script: entries.raftkv, leadingArgs: [] });
  assert.deepEqual(entrypointFor([], entries), { script: entries.raftkv, leadingArgs: [] });
  assert.deepEqual(entrypointFor(['raftkv'], entries), { script: entries.raftkv, leadingArgs: [] });
  assert.deepEqual(entrypointFor(['/usr/local/bin/raftctl'], entries), { script: entries.raftctl, leadingArgs: [] });
  assert.deepEqual(entrypointFor(['raftctl', '--endpoints', 'http://kv:2379'], entries), { script: entries.raftctl, leadingArgs: ['--endpoints', 'http://kv:2379'] });
  assert.equal(entrypointFor(['sh', '-c', 'raftctl status'], entries), undefined);
  assert.equal(entrypointFor(['raftkv-operator'], entries), undefined);
});

test('after a container exits: init containers run in order and are retried; Job pods (Never/OnFailure) finish', () => {
  assert.equal(afterExit('Always', 'init', 0), 'next');
  assert.equal(afterExit('Always', 'init', 1), 'restart');
  assert.equal(afterExit('OnFailure', 'init', 1), 'restart');
  assert.equal(afterExit('Never', 'init', 1), 'failed');
  assert.equal(afterExit('Always', 'main', 0), 'restart');
  assert.equal(afterExit('Always', 'main', 1), 'restart');
  assert.equal(afterExit('OnFailure', 'main', 0), 'succeeded');
  assert.equal(afterExit('OnFailure', 'main', 2), 'restart');
  assert.equal(afterExit('Never', 'main', 0), 'succeeded');
  assert.equal(afterExit('Never', 'main', 1), 'failed');
  assert.equal(restartPolicyOf(undefined), 'Always');
  assert.equal(restartPolicyOf('Never'), 'Never');
  assert.equal(restartPolicyOf('bogus'), 'Always');
  assert.equal(podPhaseOf({ hasIp: true, initsDone: false, finished: undefined }), 'Pending', 'initialising pods are Pending');
  assert.equal(podPhaseOf({ hasIp: true, initsDone: true, finished: undefined }), 'Running');
  assert.equal(podPhaseOf({ hasIp: false, initsDone: true, finished: undefined }), 'Pending');
  assert.equal(podPhaseOf({ hasIp: true, initsDone: true, finished: 'Succeeded' }), 'Succeeded');
  assert.equal(podPhaseOf({ hasIp: true, initsDone: false, finished: 'Failed' }), 'Failed');
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('secret volumes: every key or only items (key → path), modes, missing Secret/key is a mount failure unless optional, paths stay inside', () => {
  const data = { 'tls.crt': b64('CERT'), 'tls.key': b64('KEY'), 'ca.crt': b64('CA') };
  const all = secretVolumeFiles({ secretName: 's', defaultMode: 0o440 }, data);
  assert.deepEqual(all.map((f) => [f.path, f.content.toString(), f.mode]), [['ca.crt', 'CA', 0o440], ['tls.crt', 'CERT', 0o440], ['tls.key', 'KEY', 0o440]]);
  assert.equal(secretVolumeFiles({ secretName: 's' }, data)[0]?.mode, 0o644, 'the kubelet default');
  const items = secretVolumeFiles({ secretName: 's', items: [{ key: 'tls.key', path: 'tokens' }, { key: 'ca.crt', path: 'sub/ca', mode: 0o400 }] }, data);
  assert.deepEqual(items.map((f) => [f.path, f.content.toString(), f.mode]), [['tokens', 'KEY', 0o644], ['sub/ca', 'CA', 0o400]]);
  assert.throws(() => secretVolumeFiles({ secretName: 's' }, undefined), /secret s not found/);
  assert.deepEqual(secretVolumeFiles({ secretName: 's', optional: true }, undefined), []);
  assert.throws(() => secretVolumeFiles({ secretName: 's', items: [{ key: 'nope', path: 'x' }] }, data), /has no key nope/);
  for (const bad of ['../x', '/etc/passwd', 'a/../../b', '..data', '']) {
    assert.throws(() => secretVolumeFiles({ secretName: 's', items: [{ key: 'ca.crt', path: bad }] }, data), ContainerConfigError, bad);
  }
});

test('secret volumes on disk: ..data swapped atomically, names are symlinks, an update replaces the content, dropped keys vanish; args map into it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-secretvol-'));
  try {
    writeAtomicDir(dir, secretVolumeFiles({ secretName: 's', defaultMode: 0o440 }, { 'tls.crt': b64('v1'), 'old.key': b64('gone soon') }));
    assert.equal(readFileSync(join(dir, 'tls.crt'), 'utf8'), 'v1');
    assert.ok(lstatSync(join(dir, 'tls.crt')).isSymbolicLink());
    assert.equal(readlinkSync(join(dir, 'tls.crt')), join('..data', 'tls.crt'));
    assert.equal(statSync(join(dir, 'tls.crt')).mode & 0o777, 0o440);
    const first = readlinkSync(join(dir, '..data'));
    writeAtomicDir(dir, secretVolumeFiles({ secretName: 's' }, { 'tls.crt': b64('v2') }));
    assert.equal(readFileSync(join(dir, 'tls.crt'), 'utf8'), 'v2');
    assert.notEqual(readlinkSync(join(dir, '..data')), first);
    assert.equal(existsSync(join(dir, 'old.key')), false, 'a key no longer in the Secret is no longer a file');
    assert.deepEqual(readdirSync(dir).filter((e) => e.startsWith('..')).length, 2, '..data and the one current timestamped dir');
    const spec = localProcessSpec(['--peer-cert=/etc/raftkv/tls/tls.crt'], new Map(), [{ mountPath: '/etc/raftkv/tls', hostPath: dir }], '127.0.0.12');
    assert.equal(readFileSync(spec.args[0]?.split('=')[1] ?? '', 'utf8'), 'v2');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('probes: HTTP by default, HTTPS without certificate verification, named ports; unknown ports and schemes refused', () => {
  const ports = [{ name: 'client', containerPort: 2379 }];
  assert.deepEqual(probeTarget({ path: '/readyz', port: 2379 }, '127.0.0.12', ports), { url: 'http://127.0.0.12:2379/readyz', insecure: false });
  assert.deepEqual(probeTarget({ path: '/readyz', port: 'client', scheme: 'HTTPS' }, '127.0.0.12', ports), { url: 'https://127.0.0.12:2379/readyz', insecure: true });
  assert.equal(probeTarget({ port: 2379 }, '127.0.0.9', []).url, 'http://127.0.0.9:2379/');
  assert.throws(() => probeTarget({ port: 'peer' }, '127.0.0.9', ports), ContainerConfigError);
  assert.throws(() => probeTarget({ port: 1, scheme: 'TCP' }, '127.0.0.9', ports), ContainerConfigError);
});
