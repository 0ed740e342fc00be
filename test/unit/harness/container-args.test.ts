// The operator tier's container-args helper (test/lib/container-args.ts): `$(VAR)` expansion as the
// kubelet does it and the mapping of mounted paths and wildcard listens to local ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandVars, localProcessSpec, localizeValue, mapMountedPath } from '../../lib/container-args.js';

test('$(VAR) expansion as the kubelet does it: defined vars, $$ escapes, undefined refs left alone', () => {
  const vars = new Map([['POD_NAME', 'kv-1'], ['NS', 'ns1']]);
  assert.equal(expandVars('--name=$(POD_NAME)', vars), '--name=kv-1');
  assert.equal(expandVars('$(POD_NAME).peer.$(NS).svc', vars), 'kv-1.peer.ns1.svc');
  assert.equal(expandVars('$$(POD_NAME)', vars), '$(POD_NAME)');
  assert.equal(expandVars('$(MISSING)-$(POD_NAME', vars), '$(MISSING)-$(POD_NAME');
  assert.equal(expandVars('cost $5', vars), 'cost $5');
});

test('args are localised: wildcard listens become the given IP, mounted paths the volume directory', () => {
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
  assert.equal(mapMountedPath('/etc/raftkv/tls/tls.crt', [{ mountPath: '/etc/raftkv/tls/', hostPath: '/tmp/s' }]), '/tmp/s/tls.crt');
  assert.equal(mapMountedPath('/etc/raftkv/tlsx', [{ mountPath: '/etc/raftkv/tls', hostPath: '/tmp/s' }]), '/etc/raftkv/tlsx');
});
