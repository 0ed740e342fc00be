// Packaging: the Helm charts, the plain manifests in k8s/ and the Dockerfile, checked on a machine
// without Docker. helm lint/template (default, non-default and schema-rejected values), the flags
// the charts pass parsed by the real flag parsers, a byte-for-byte drift check of k8s/ against a
// fresh render, `kubectl apply --dry-run=server` of everything against a real kube-apiserver, the
// operator running under the chart's RBAC (and nothing more), and the Dockerfile's entry points
// against the compiled output. Helm: <repo>/.cache/bin/helm (bash scripts/ensure-helm.sh).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { checkEntryPoints, compareTrees, contextCopySources, dockerfileInstallProblems, dockerIgnored, findHelm, importedPackages, listFiles, parseDockerfile, prometheusOperatorCrds, run } from '../lib/packaging.js';
import { EVICTION_WEBHOOK_PATH } from '../../operator/src/webhook/eviction-webhook.js';
import { parseOperatorFlags } from '../../operator/src/flags.js';
import { parseFlags } from '../../daemon/src/config/flags.js';

const ROOT = repoRoot();
/** The tsc output dir this test was compiled into (dist/ under `make build`). */
const BUILD_OUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OPERATOR_CHART = join(ROOT, 'charts', 'raftkv-operator');
const STATIC_CHART = join(ROOT, 'charts', 'raftkv');
const tmp = mkdtempSync(join(tmpdir(), 'raftkv-packaging-'));
const helmEnv: NodeJS.ProcessEnv = { ...process.env, HELM_CACHE_HOME: join(tmp, 'helm-cache'), HELM_CONFIG_HOME: join(tmp, 'helm-config'), HELM_DATA_HOME: join(tmp, 'helm-data') };

interface K8sObject { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> }

async function helm(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(findHelm(), args, { env: helmEnv, timeoutMs: 120_000 });
}

function docs(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text).map((d) => d.toJS() as K8sObject | null).filter((d): d is K8sObject => d !== null && typeof d === 'object');
}

function writeValues(name: string, values: object): string {
  const p = join(tmp, name);
  writeFileSync(p, YAML.stringify(values));
  return p;
}

const OPERATOR_VALUES = {
  replicas: 3, image: { repository: 'registry.example/raftkv', tag: '1.2.3', pullPolicy: 'Always' }, imagePullSecrets: [{ name: 'regcred' }],
  watchNamespaces: ['team-a', 'team-b'], logLevel: 'debug', metricsPort: 9090, leaderElection: { leaseName: 'rk-leader' },
  grafanaDashboards: { enabled: true, label: 'grafana_dashboard', labelValue: 'enabled', namespace: 'monitoring' },
  monitoring: { serviceMonitor: true, podMonitor: true, prometheusRule: true, interval: '30s', labels: { release: 'kube-prometheus' } },
  podAnnotations: { 'example.com/owner': 'storage' }, nodeSelector: { 'kubernetes.io/os': 'linux' },
};
const STATIC_VALUES = {
  replicas: 5, image: { repository: 'registry.example/raftkv', tag: '1.2.3' },
  raft: { electionTimeoutMs: 2000, heartbeatIntervalMs: 200, snapshotEntries: 5000, maxRequestBytes: 2097152 },
  clusterToken: 'prod-east', logLevel: 'warn', storage: { size: '20Gi', storageClassName: 'fast-ssd' },
  service: { type: 'NodePort', clientPort: 12379, peerPort: 12380 }, podDisruptionBudget: { enabled: true },
};

/** Container args with the kubelet's $(VAR) expansion applied. */
function expand(args: readonly string[], env: Record<string, string>): string[] {
  return args.map((a) => a.replace(/\$\(([A-Z_]+)\)/g, (_m, v: string) => env[v] ?? `$(${v})`));
}

function containerOf(objs: readonly K8sObject[], kind: string): { command?: string[]; args?: string[] } {
  const o = objs.find((x) => x.kind === kind);
  assert.ok(o, `no ${kind} rendered`);
  const spec = o.spec as { template: { spec: { containers: { command?: string[]; args?: string[] }[] } } };
  const c = spec.template.spec.containers[0];
  assert.ok(c, `${kind} has no container`);
  return c;
}

after(() => rmSync(tmp, { recursive: true, force: true }));

describe('helm charts', () => {
  test('helm is where the Makefile puts it', () => {
    assert.doesNotThrow(() => findHelm(), 'run: bash scripts/ensure-helm.sh');
  });

  test('helm lint --strict passes for both charts, with default and non-default values', async () => {
    for (const [chart, values] of [[OPERATOR_CHART, OPERATOR_VALUES], [STATIC_CHART, STATIC_VALUES]] as const) {
      const plain = await helm(['lint', '--strict', chart]);
      assert.equal(plain.code, 0, `helm lint ${chart}:\n${plain.stdout}${plain.stderr}`);
      const custom = await helm(['lint', '--strict', chart, '-f', writeValues(`lint-${chart.split('/').pop() ?? ''}.yaml`, values)]);
      assert.equal(custom.code, 0, `helm lint ${chart} (custom values):\n${custom.stdout}${custom.stderr}`);
    }
  });

  test('operator chart (defaults): 2 replicas, Lease flags, /healthz probes, flags the operator accepts, cluster-wide binding', async () => {
    const r = await helm(['template', 'raftkv-operator', OPERATOR_CHART, '--namespace', 'ops']);
    assert.equal(r.code, 0, r.stderr);
    const objs = docs(r.stdout);
    const dep = objs.find((o) => o.kind === 'Deployment');
    assert.equal((dep?.spec as { replicas: number }).replicas, 2);
    const c = containerOf(objs, 'Deployment') as { command?: string[]; args?: string[]; readinessProbe?: { httpGet: { path: string } }; livenessProbe?: { httpGet: { path: string } } };
    assert.deepEqual(c.command, ['raftkv-operator']);
    assert.equal(c.readinessProbe?.httpGet.path, '/healthz');
    assert.equal(c.livenessProbe?.httpGet.path, '/healthz');
    const flags = parseOperatorFlags(expand(c.args ?? [], { POD_NAMESPACE: 'ops', POD_NAME: 'p' }), {});
    assert.equal(flags.leaseName, 'raftkv-operator');
    assert.equal(flags.leaseNamespace, 'ops');
    assert.deepEqual(flags.namespaces, []);
    // The eviction webhook: the flags name the objects the chart makes.
    assert.deepEqual(flags.webhook, { port: 9443, service: 'raftkv-operator-webhook', secret: 'raftkv-operator-webhook-tls', config: 'raftkv-operator-eviction' });
    const vwc = objs.find((o) => o.kind === 'ValidatingWebhookConfiguration') as unknown as { metadata: { name: string }; webhooks: { failurePolicy: string; sideEffects: string; clientConfig: { service: { name: string; namespace: string; path: string } }; rules: { resources: string[] }[] }[] } | undefined;
    assert.equal(vwc?.metadata.name, flags.webhook?.config);
    assert.deepEqual(vwc?.webhooks[0]?.clientConfig.service, { name: flags.webhook?.service, namespace: 'ops', path: EVICTION_WEBHOOK_PATH, port: 443 });
    assert.equal(vwc?.webhooks[0]?.failurePolicy, 'Ignore');
    assert.deepEqual(vwc?.webhooks[0]?.rules[0]?.resources, ['pods/eviction']);
    assert.ok(objs.some((o) => o.kind === 'Service' && o.metadata.name === flags.webhook?.service));
    assert.ok(objs.some((o) => o.kind === 'ClusterRoleBinding'));
    assert.ok(!objs.some((o) => o.apiVersion.startsWith('monitoring.coreos.com')), 'monitoring objects are off by default');
    assert.equal(objs.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.includes('dashboard')).length, readdirSync(join(ROOT, 'k8s', 'grafana')).filter((f) => f.endsWith('.json')).length);
  });

  test('operator chart (non-default): --namespaces joined, one RoleBinding per namespace, no ClusterRoleBinding but get on StorageClasses, monitoring objects', async () => {
    const r = await helm(['template', 'rk', OPERATOR_CHART, '--namespace', 'ops', '-f', writeValues('op.yaml', OPERATOR_VALUES)]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /--namespace=/, 'the operator takes --namespaces, not --namespace');
    const objs = docs(r.stdout);
    const c = containerOf(objs, 'Deployment');
    const flags = parseOperatorFlags(expand(c.args ?? [], { POD_NAMESPACE: 'ops' }), {});
    assert.deepEqual(flags.namespaces, ['team-a', 'team-b']);
    assert.equal(flags.metricsPort, 9090);
    assert.equal(flags.leaseName, 'rk-leader');
    assert.equal(flags.logLevel, 'debug');
    assert.deepEqual(objs.filter((o) => o.kind === 'RoleBinding' && o.metadata.name === 'rk').map((o) => o.metadata.namespace).sort(), ['team-a', 'team-b']);
    // The cluster-wide grants of a scoped install: get on StorageClasses (cluster-scoped; a size
    // increase reads allowVolumeExpansion) and get/patch of its own webhook configuration (caBundle).
    assert.deepEqual(objs.filter((o) => o.kind === 'ClusterRoleBinding').map((o) => o.metadata.name).sort(), ['rk-storageclasses', 'rk-webhook']);
    const whRole = objs.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'rk-webhook') as unknown as { rules: { resources: string[]; resourceNames: string[]; verbs: string[] }[] } | undefined;
    assert.deepEqual(whRole?.rules.map((x) => [x.resources, x.resourceNames, x.verbs]), [[['validatingwebhookconfigurations'], ['rk-eviction'], ['get', 'patch']]]);
    const vwc = objs.find((o) => o.kind === 'ValidatingWebhookConfiguration') as unknown as { webhooks: { namespaceSelector?: { matchExpressions: { values: string[] }[] } }[] } | undefined;
    assert.deepEqual(vwc?.webhooks[0]?.namespaceSelector?.matchExpressions[0]?.values, ['team-a', 'team-b'], 'only evictions in the watched namespaces are reviewed');
    const scRole = objs.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'rk-storageclasses') as unknown as { rules: { resources: string[]; verbs: string[] }[] } | undefined;
    assert.deepEqual(scRole?.rules.map((x) => [x.resources, x.verbs]), [[['storageclasses'], ['get']]]);
    assert.deepEqual(objs.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1').map((o) => o.kind).sort(), ['PodMonitor', 'PrometheusRule', 'ServiceMonitor']);
    const rule = objs.find((o) => o.kind === 'PrometheusRule');
    const alerts = YAML.parse(readFileSync(join(ROOT, 'k8s', 'grafana', 'raftkv-alerts.yml'), 'utf8')) as { groups: unknown[] };
    assert.deepEqual((rule?.spec as { groups: unknown[] }).groups, alerts.groups, 'the PrometheusRule carries k8s/grafana/raftkv-alerts.yml unchanged');
  });

  test('static chart: flags raftkv accepts, initial cluster of every member, quorum PDB, headless + client Services', async () => {
    for (const [values, n, port] of [[undefined, 3, 2380], [STATIC_VALUES, 5, 12380]] as const) {
      const r = await helm(['template', 'kv', STATIC_CHART, '--namespace', 'db', ...(values === undefined ? [] : ['-f', writeValues('static.yaml', values)])]);
      assert.equal(r.code, 0, r.stderr);
      const objs = docs(r.stdout);
      const c = containerOf(objs, 'StatefulSet');
      const parsed = parseFlags(expand(c.args ?? [], { POD_NAME: 'kv-1', POD_NAMESPACE: 'db' }), {});
      assert.equal(parsed.kind, 'run');
      if (parsed.kind !== 'run') return;
      assert.equal(parsed.config.name, 'kv-1');
      assert.equal(parsed.config.initialCluster.length, n);
      assert.deepEqual(parsed.config.initialCluster.map((p) => p.peerAddress), Array.from({ length: n }, (_, i) => `kv-${i}.kv-peers.db.svc:${port}`));
      assert.equal(parsed.config.advertisePeer, `kv-1.kv-peers.db.svc:${port}`);
      const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget');
      assert.equal((pdb?.spec as { minAvailable: number }).minAvailable, Math.floor(n / 2) + 1);
      const svcs = objs.filter((o) => o.kind === 'Service');
      assert.equal(svcs.length, 2);
      assert.ok(svcs.some((s) => (s.spec as { clusterIP?: string }).clusterIP === 'None'));
    }
  });

  test('the schemas reject bad values and helm fails', async () => {
    const bad: [string, string, object, RegExp][] = [
      [STATIC_CHART, 'even replicas', { replicas: 4 }, /replicas/],
      [STATIC_CHART, 'zero replicas', { replicas: 0 }, /replicas/],
      [STATIC_CHART, 'unknown key', { replica: 3 }, /replica/],
      [OPERATOR_CHART, 'latest tag', { image: { repository: 'x', tag: 'latest' } }, /tag/],
      [OPERATOR_CHART, 'bad namespace name', { watchNamespaces: ['Not_A_Namespace'] }, /watchNamespaces/],
      [OPERATOR_CHART, 'no replicas', { replicas: 0 }, /replicas/],
    ];
    for (const [chart, what, values, msg] of bad) {
      const r = await helm(['template', 'x', chart, '-f', writeValues('bad.yaml', values)]);
      assert.notEqual(r.code, 0, `${what}: helm accepted it`);
      assert.match(r.stderr, msg, `${what}: ${r.stderr}`);
    }
  });
});

describe('k8s/ manifests', () => {
  test('k8s/ and the chart copies match a fresh render byte for byte (else: make manifests)', async () => {
    const out = join(tmp, 'render');
    const r = await run('bash', [join(ROOT, 'scripts', 'render-manifests.sh'), out], { env: { ...helmEnv, PATH: `${join(ROOT, '.cache', 'bin')}:${process.env['PATH'] ?? ''}` }, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `render-manifests failed:\n${r.stdout}${r.stderr}`);
    const scopes = ['k8s/operator', 'k8s/monitoring', 'k8s/static', 'charts/raftkv-operator/crds', 'charts/raftkv-operator/dashboards', 'charts/raftkv-operator/rules'];
    const drift = compareTrees(out, ROOT, scopes);
    assert.deepEqual(drift, [], `generated manifests drifted from the charts; run \`make manifests\` and commit:\n${drift.join('\n')}`);
  });

  test('the drift check catches a changed, a missing and an extra file', () => {
    const a = join(tmp, 'drift-a');
    const b = join(tmp, 'drift-b');
    cpSync(join(ROOT, 'k8s', 'static'), join(a, 'k8s', 'static'), { recursive: true });
    cpSync(join(ROOT, 'k8s', 'static'), join(b, 'k8s', 'static'), { recursive: true });
    assert.deepEqual(compareTrees(a, b, ['k8s/static']), []);
    const f = join(b, 'k8s', 'static', 'raftkv-static.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('replicas: 3', 'replicas: 5'));
    writeFileSync(join(a, 'k8s', 'static', 'new.yaml'), 'x: 1\n');
    writeFileSync(join(b, 'k8s', 'static', 'stale.yaml'), 'x: 1\n');
    const drift = compareTrees(a, b, ['k8s/static']);
    assert.equal(drift.length, 3, drift.join('\n'));
    assert.ok(drift.some((d) => /raftkv-static\.yaml: differs at line \d+/.test(d)));
  });

  test('samples: a 3-member RaftCluster, a secured one (tls + auth), and one drill for every action the CRD allows', () => {
    const crd = docs(readFileSync(join(ROOT, 'k8s', 'crds', 'raftchaosdrills.raftkv.dev.yaml'), 'utf8'))[0] as unknown as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: { action: { enum: string[] } } } } } } }[] } };
    const actions = crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties.action.enum ?? [];
    assert.ok(actions.length >= 5);
    const samples = listFiles(join(ROOT, 'k8s', 'samples')).flatMap((f) => docs(readFileSync(join(ROOT, 'k8s', 'samples', f), 'utf8')));
    const all = samples.filter((o) => o.kind === 'RaftCluster');
    // secure-raftcluster.yaml shows spec.tls and spec.auth; the drills and the e2e tier use the plain one.
    const secured = all.filter((o) => o.spec?.['tls'] !== undefined || o.spec?.['auth'] !== undefined);
    assert.equal(secured.length, 1);
    assert.deepEqual(secured[0]?.spec?.['tls'], { enabled: true });
    assert.equal((secured[0]?.spec?.['auth'] as { tokenSecretName?: string } | undefined)?.tokenSecretName, 'secure-tokens');
    const clusters = all.filter((o) => !secured.includes(o));
    assert.equal(clusters.length, 1);
    assert.equal(clusters[0]?.spec?.['replicas'], 3);
    const drillActions = samples.filter((o) => o.kind === 'RaftChaosDrill').map((o) => String(o.spec?.['action'])).sort();
    assert.deepEqual(drillActions, [...actions].sort());
    for (const d of samples.filter((o) => o.kind === 'RaftChaosDrill')) assert.equal((d.spec?.['clusterRef'] as { name: string }).name, clusters[0]?.metadata.name);
  });

  test('the kind config is a kind Cluster with workers for the members', () => {
    const k = YAML.parse(readFileSync(join(ROOT, 'k8s', 'kind', 'kind-config.yaml'), 'utf8')) as { kind: string; apiVersion: string; nodes: { role: string }[] };
    assert.equal(k.kind, 'Cluster');
    assert.equal(k.apiVersion, 'kind.x-k8s.io/v1alpha4');
    assert.ok(k.nodes.filter((n) => n.role === 'worker').length >= 3);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const readContext = (p: string): string | undefined => (existsSync(join(ROOT, p)) ? readFileSync(join(ROOT, p), 'utf8') : undefined);

  test('pinned base image, non-root user, OCI labels', () => {
    const froms = [...dockerfile.matchAll(/^ARG NODE_IMAGE=(\S+)/gm)].map((m) => m[1] ?? '');
    assert.equal(froms.length, 1);
    assert.match(froms[0] ?? '', /^node:20\.\d+\.\d+-[a-z]+-slim$/);
    assert.doesNotMatch(dockerfile, /:latest\b/);
    assert.match(dockerfile, /^USER 1000:1000$/m);
    for (const l of ['title', 'version', 'source', 'licenses']) assert.match(dockerfile, new RegExp(`org\\.opencontainers\\.image\\.${l}=`));
  });

  test('ENTRYPOINT, raftctl and the chart\'s operator command resolve to bin/ launchers whose dist/ targets the build produces', async () => {
    const layout = parseDockerfile(dockerfile);
    assert.deepEqual(layout.entrypoint, ['raftkv']);
    const r = await helm(['template', 'raftkv-operator', OPERATOR_CHART]);
    const chartCommand = containerOf(docs(r.stdout), 'Deployment').command ?? [];
    assert.equal(chartCommand.length, 1);
    const commands = [...layout.entrypoint.slice(0, 1), ...layout.cmd.slice(0, 1).filter((c) => !c.startsWith('-')), 'raftctl', chartCommand[0] ?? ''];
    assert.deepEqual(checkEntryPoints(layout, commands, readContext, BUILD_OUT), []);
    // Every launcher in bin/ is reachable in the image.
    for (const b of readdirSync(join(ROOT, 'bin'))) assert.equal(layout.symlinks.get(`/usr/local/bin/${b}`), `/app/bin/${b}`, `bin/${b} has no /usr/local/bin link`);
  });

  test('the entry-point check catches a wrong ENTRYPOINT, a launcher target outside the copied dist/, and a missing build output', () => {
    const good = parseDockerfile(dockerfile);
    assert.notDeepEqual(checkEntryPoints(good, ['raftkvd'], readContext, BUILD_OUT), []);
    const noOperatorCopy = parseDockerfile(dockerfile.replace(/^COPY --from=build \/src\/dist\/operator .*$/m, ''));
    assert.match(checkEntryPoints(noOperatorCopy, ['raftkv-operator'], readContext, BUILD_OUT).join('\n'), /not in any dist\/ folder/);
    assert.match(checkEntryPoints(good, ['raftkv'], readContext, join(tmp, 'empty-build')).join('\n'), /does not produce/);
    const badLauncher = (p: string): string | undefined => (p === 'bin/raftctl' ? "#!/usr/bin/env node\nimport('../dist/daemon/src/cli/nope.js');\n" : readContext(p));
    assert.match(checkEntryPoints(good, ['raftctl'], badLauncher, BUILD_OUT).join('\n'), /nope\.js.*does not produce/);
  });

  test('the build never fetches a tool by name and stops when `npm ci` installed nothing', () => {
    assert.deepEqual(dockerfileInstallProblems(dockerfile), []);
    // Known-bad: what the Dockerfile had before (npx tsc; npm ci trusted on its exit code).
    const old = dockerfile.replace('node_modules/.bin/tsc -p tsconfig.json', 'npx tsc -p tsconfig.json').replace(/\n\s*&& npm ls --all >\/dev\/null/, '');
    const problems = dockerfileInstallProblems(old).join('\n');
    assert.match(problems, /npx tsc/);
    assert.match(problems, /npm ci --ignore-scripts --no-audit --no-fund.*not followed by `npm ls`/);
  });

  test('.dockerignore keeps every file the Dockerfile copies from the context, and leaves tests and caches out', () => {
    const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    const sources = contextCopySources(dockerfile);
    assert.ok(sources.includes('bin') && sources.includes('daemon') && sources.includes('package-lock.json'), sources.join(' '));
    for (const src of sources) {
      assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: not in the repo`);
      assert.equal(dockerIgnored(patterns, src), false, `COPY ${src}: excluded by .dockerignore`);
    }
    for (const f of ['daemon/src/main.ts', 'operator/src/main.ts', 'bin/raftkv', 'daemon/src/api/status-page/index.html']) assert.equal(dockerIgnored(patterns, f), false, f);
    for (const f of ['node_modules/yaml/package.json', 'dist/daemon/src/main.js', '.cache/bin/helm', 'test/operator/packaging.test.ts', '.git/HEAD', 'charts/raftkv/Chart.yaml']) assert.equal(dockerIgnored(patterns, f), true, f);
    // Known-bad: without the re-include, daemon/ would be missing from the build.
    assert.equal(dockerIgnored(patterns.filter((p) => p.trim() !== '!daemon/'), 'daemon'), true);
  });

  test('runtime code imports only production dependencies (the image installs with --omit=dev)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const used = new Map([...importedPackages(join(BUILD_OUT, 'daemon', 'src')), ...importedPackages(join(BUILD_OUT, 'operator', 'src'))]);
    assert.ok(used.size > 0);
    const missing = [...used].filter(([name]) => !(name in pkg.dependencies)).map(([name, file]) => `${name} (imported by ${file})`);
    assert.deepEqual(missing, []);
  });
});

describe('kubectl apply --dry-run=server against a real kube-apiserver', () => {
  let cp: KubeControlPlane;
  let operator: ChildProcess | undefined;
  const kubectl = (args: readonly string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    run('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], { timeoutMs: 60_000, ...(input === undefined ? {} : { input }) });
  const dryRun = async (what: string, text: string): Promise<void> => {
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], text);
    assert.equal(r.code, 0, `${what} rejected by the API server:\n${r.stderr}\n${r.stdout}`);
    assert.equal(r.stdout.trim().split('\n').filter((l) => l.includes('(server dry run)')).length, docs(text).length, `${what}: not every object was accepted:\n${r.stdout}`);
  };

  before(async () => {
    cp = await startKubeControlPlane();
  });
  after(async () => {
    if (operator?.pid !== undefined && operator.exitCode === null && operator.signalCode === null) process.kill(operator.pid, 'SIGKILL');
    await cp?.stop();
  });

  test('CRDs: dry-run, then installed and Established (with minimal prometheus-operator CRDs for the monitoring objects)', async () => {
    const crdFiles = listFiles(join(ROOT, 'k8s', 'crds')).map((f) => join(ROOT, 'k8s', 'crds', f));
    for (const f of crdFiles) await dryRun(f, readFileSync(f, 'utf8'));
    const prom = join(tmp, 'prometheus-operator-crds.yaml');
    writeFileSync(prom, prometheusOperatorCrds().map((c) => YAML.stringify(c)).join('---\n'));
    await cp.installCrds([...crdFiles, prom]);
    for (const ns of ['raftkv-system', 'ops', 'db', 'team-a', 'team-b', 'monitoring']) {
      const r = await kubectl(['create', 'namespace', ns]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  test('every chart rendering (default and non-default values) is accepted', async () => {
    const cases: [string, string[]][] = [
      ['operator chart, defaults', ['template', 'raftkv-operator', OPERATOR_CHART, '--namespace', 'ops']],
      ['operator chart, non-default values', ['template', 'rk', OPERATOR_CHART, '--namespace', 'ops', '-f', writeValues('op-dry.yaml', OPERATOR_VALUES)]],
      ['operator chart, CRDs included', ['template', 'raftkv-operator', OPERATOR_CHART, '--namespace', 'ops', '--include-crds']],
      ['static chart, defaults', ['template', 'kv', STATIC_CHART, '--namespace', 'db']],
      ['static chart, non-default values', ['template', 'kv', STATIC_CHART, '--namespace', 'db', '-f', writeValues('static-dry.yaml', STATIC_VALUES)]],
      ['static chart, 1 member', ['template', 'one', STATIC_CHART, '--namespace', 'db', '--set', 'replicas=1']],
    ];
    for (const [what, args] of cases) {
      const r = await helm(args);
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      await dryRun(what, r.stdout);
    }
  });

  test('every Kubernetes manifest in k8s/ is accepted (grafana rules/dashboards and the kind config are not API objects)', async () => {
    const notApiObjects = new Set(['kind/kind-config.yaml', 'grafana/raftkv-alerts.yml']);
    const k8s = join(ROOT, 'k8s');
    const files = listFiles(k8s).filter((f) => /\.ya?ml$/.test(f) && !notApiObjects.has(f));
    for (const must of ['operator/operator.yaml', 'monitoring/monitoring.yaml', 'static/raftkv-static.yaml', 'samples/raftcluster.yaml']) assert.ok(files.includes(must), `${must} missing`);
    // Namespaces first (a dry-run Namespace is not there for the objects after it), then the rest.
    const ordered = [...files].sort((a, b) => Number(!a.startsWith('crds/')) - Number(!b.startsWith('crds/')));
    for (const f of ordered) await dryRun(`k8s/${f}`, readFileSync(join(k8s, f), 'utf8'));
  });

  test('helm install and uninstall of both charts against the API server (CRDs from crds/, NOTES rendered)', async () => {
    const kc = ['--kubeconfig', cp.kubeconfigPath];
    const op = await helm(['install', 'rk-helm', OPERATOR_CHART, '--namespace', 'helm-test', '--create-namespace', ...kc]);
    assert.equal(op.code, 0, `helm install operator chart:\n${op.stderr}`);
    assert.match(op.stdout, /raftkv-operator 0\.1\.0: 2 replica\(s\) in helm-test/);
    assert.match(op.stdout, /Watching: all namespaces/);
    // `rc` is kubectl's short name for ReplicationControllers: NOTES once told users `kubectl get rc demo`.
    assert.doesNotMatch(op.stdout, /kubectl \w+ rc /, 'NOTES use the short name rkv, never rc');
    assert.match(op.stdout, /kubectl scale rkv demo --replicas=5/);
    const kv = await helm(['install', 'kv', STATIC_CHART, '--namespace', 'helm-test', ...kc]);
    assert.equal(kv.code, 0, `helm install static chart:\n${kv.stderr}`);
    assert.match(kv.stdout, /raftkv: 3 members in helm-test/);
    const sts = await cp.request('GET', '/apis/apps/v1/namespaces/helm-test/statefulsets/kv');
    assert.equal(sts.status, 200);
    for (const release of ['kv', 'rk-helm']) assert.equal((await helm(['uninstall', release, '--namespace', 'helm-test', ...kc])).code, 0);
    assert.equal((await cp.request('GET', '/apis/apps/v1/namespaces/helm-test/statefulsets/kv')).status, 404);
  });

  test('the API server refuses a bad RaftCluster (even replicas) in a dry run: the check is not vacuous', async () => {
    const bad = readFileSync(join(ROOT, 'k8s', 'samples', 'raftcluster.yaml'), 'utf8').replace('replicas: 3', 'replicas: 4');
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], bad);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /odd/);
  });

  test('the operator runs under the chart\'s RBAC: leads, creates a member StatefulSet and its objects, cleans up on delete', async () => {
    const apply = await kubectl(['apply', '-f', join(ROOT, 'k8s', 'operator', 'operator.yaml')]);
    assert.equal(apply.code, 0, apply.stderr);
    const tok = await kubectl(['-n', 'raftkv-system', 'create', 'token', 'raftkv-operator', '--duration=1h']);
    assert.equal(tok.code, 0, tok.stderr);
    const server = (YAML.parse(readFileSync(cp.kubeconfigPath, 'utf8')) as { clusters: { cluster: { server: string } }[] }).clusters[0]?.cluster.server ?? '';
    const saKubeconfig = join(tmp, 'sa-kubeconfig');
    writeFileSync(saKubeconfig, YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
      clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'sa', user: { token: tok.stdout.trim() } }],
      contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }],
    }));
    const main = join(BUILD_OUT, 'operator', 'src', 'main.js');
    const child = spawn(process.execPath, [main, '--kubeconfig', saKubeconfig, '--metrics-port', '0', '--lease-namespace', 'raftkv-system', '--lease-name', 'raftkv-operator'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: 'packaging-test' } });
    operator = child;
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr?.on('data', (b: Buffer) => { out += b.toString(); });
    const waitFor = async (what: string, fn: () => Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (!(await fn())) {
        assert.ok(Date.now() < deadline, `${what} within 60 s; operator log:\n${out.slice(-4000)}`);
        assert.equal(child.exitCode, null, `operator exited:\n${out.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await waitFor('the operator leads', async () => /became leader/.test(out));
    const sample = readFileSync(join(ROOT, 'k8s', 'samples', 'raftcluster.yaml'), 'utf8');
    assert.equal((await kubectl(['-n', 'team-a', 'apply', '-f', '-'], sample)).code, 0);
    const exists = async (path: string): Promise<boolean> => (await cp.request('GET', path)).status === 200;
    await waitFor('StatefulSet, Services, ConfigMap and PDB', async () => (await Promise.all([
      '/apis/apps/v1/namespaces/team-a/statefulsets/demo', '/api/v1/namespaces/team-a/services/demo', '/api/v1/namespaces/team-a/services/demo-peer',
      '/api/v1/namespaces/team-a/configmaps/demo-config', '/apis/policy/v1/namespaces/team-a/poddisruptionbudgets/demo',
    ].map(exists))).every(Boolean));
    // spec.tls + spec.auth under the same RBAC: the operator reads the token Secret and creates the
    // CA and member-certificate Secrets (create/get on secrets, nothing more).
    const token = 'pkg-admin-token-0123456789abcdef';
    assert.equal((await kubectl(['-n', 'team-a', 'create', 'secret', 'generic', 'secure-tokens', `--from-literal=tokens=${token} admin operator`])).code, 0);
    assert.equal((await kubectl(['-n', 'team-a', 'apply', '-f', join(ROOT, 'k8s', 'samples', 'secure-raftcluster.yaml')])).code, 0);
    await waitFor('the generated CA and member-certificate Secrets and the secured StatefulSet', async () => (await Promise.all([
      '/api/v1/namespaces/team-a/secrets/secure-ca', '/api/v1/namespaces/team-a/secrets/secure-tls', '/apis/apps/v1/namespaces/team-a/statefulsets/secure',
    ].map(exists))).every(Boolean));
    assert.ok(!out.includes(token), 'the token appeared in the operator log');
    // Aimed at a cluster that does not exist, so it fails at once (a real one would wait minutes
    // for members this control plane cannot run) but still goes through the drill's RBAC path.
    const drill = readFileSync(join(ROOT, 'k8s', 'samples', 'drill-kill-leader.yaml'), 'utf8').replace('    name: demo\n', '    name: no-such-cluster\n');
    assert.equal((await kubectl(['-n', 'team-a', 'apply', '-f', '-'], drill)).code, 0);
    await waitFor('the drill gets a status', async () => {
      const r = await cp.request('GET', '/apis/raftkv.dev/v1alpha1/namespaces/team-a/raftchaosdrills/demo-kill-leader');
      return typeof (r.body as { status?: { phase?: string } }).status?.phase === 'string';
    });
    assert.equal((await kubectl(['-n', 'team-a', 'delete', 'raftcluster', 'demo', '--wait=false'])).code, 0);
    await waitFor('the finalizer deletes the owned objects and lets the RaftCluster go', async () =>
      !(await exists('/apis/raftkv.dev/v1alpha1/namespaces/team-a/raftclusters/demo')) && !(await exists('/apis/apps/v1/namespaces/team-a/statefulsets/demo')));
    assert.doesNotMatch(out, /forbidden/i, `the operator hit an RBAC refusal:\n${out.slice(-4000)}`);
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => { if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL'); }, 15_000);
    assert.equal(await exited, 0);
    clearTimeout(timer);
  });

  test('least privilege: Secrets only by name (get, create, update), no RBAC, no other Leases; a scoped install reaches only its namespaces', async () => {
    const as = ['--as', 'system:serviceaccount:raftkv-system:raftkv-operator'];
    const can = async (args: readonly string[]): Promise<boolean> => (await kubectl(['auth', 'can-i', ...args, ...as])).stdout.trim() === 'yes';
    assert.equal(await can(['list', 'raftclusters.raftkv.dev', '-A']), true);
    assert.equal(await can(['patch', 'raftclusters.raftkv.dev/status', '-n', 'team-a']), true);
    assert.equal(await can(['delete', 'pods', '-n', 'team-a']), true);
    // spec.tls / spec.auth: the operator reads the Secrets a RaftCluster names (CA to trust, its
    // admin token), creates the generated CA and member-certificate Secrets and renews the latter
    // by a compare-and-swap PUT. That is all it may do with Secrets: it never lists or watches them
    // (no way to enumerate the namespace's credentials), never patches or deletes them (owner
    // references let the garbage collector remove the generated ones).
    // PVCs: delete only to wipe a member being replaced (raftkv.dev/replace-member) and a restore
    // drill's scratch cluster. RaftClusters: create and delete only for that scratch cluster
    // (<drill>-scratch, owned by its RestoreBackup drill); drills: created by spec.backup.restoreDrill.
    for (const allowed of [['get', 'secrets', '-n', 'team-a'], ['create', 'secrets', '-n', 'team-a'], ['update', 'secrets', '-n', 'team-a'], ['delete', 'persistentvolumeclaims', '-n', 'team-a'],
      ['create', 'raftclusters.raftkv.dev', '-n', 'team-a'], ['delete', 'raftclusters.raftkv.dev', '-n', 'team-a'], ['create', 'raftchaosdrills.raftkv.dev', '-n', 'team-a'], ['patch', 'raftbackups.raftkv.dev/status', '-n', 'team-a']]) {
      assert.equal(await can(allowed), true, `the operator may not ${allowed.join(' ')}`);
    }
    for (const denied of [['list', 'secrets', '-n', 'team-a'], ['watch', 'secrets', '-A'], ['patch', 'secrets', '-n', 'team-a'], ['delete', 'secrets', '-n', 'team-a'],
      ['create', 'clusterroles'], ['create', 'pods', '-n', 'team-a'], ['update', 'leases/other', '-n', 'raftkv-system'],
      ['get', 'leases', '-n', 'team-a'], ['list', 'persistentvolumeclaims', '-n', 'team-a'], ['list', 'nodes']]) {
      assert.equal(await can(denied), false, `the operator may ${denied.join(' ')}`);
    }
    assert.equal(await can(['patch', 'validatingwebhookconfigurations/raftkv-operator-eviction']), true, 'its own webhook configuration (caBundle)');
    assert.equal(await can(['patch', 'validatingwebhookconfigurations/other']), false, 'no other webhook configuration');
    const scoped = await helm(['template', 'scoped', OPERATOR_CHART, '--namespace', 'ops', '--set', 'watchNamespaces={team-b}']);
    assert.equal((await kubectl(['apply', '-f', '-'], scoped.stdout)).code, 0);
    const asScoped = ['--as', 'system:serviceaccount:ops:scoped'];
    const canScoped = async (args: readonly string[]): Promise<boolean> => (await kubectl(['auth', 'can-i', ...args, ...asScoped])).stdout.trim() === 'yes';
    assert.equal(await canScoped(['watch', 'raftclusters.raftkv.dev', '-n', 'team-b']), true);
    assert.equal(await canScoped(['watch', 'raftclusters.raftkv.dev', '-n', 'team-a']), false);
    assert.equal(await canScoped(['list', 'raftclusters.raftkv.dev', '-A']), false);
  });
});
