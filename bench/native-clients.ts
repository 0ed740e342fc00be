// Drives each system with its own client, as a child process, and charges CPU to both sides:
// raftkv with `raftctl bench` (HTTP/1.1 keep-alive, one request in flight per connection), etcd
// 3.6 with etcd's own benchmark tool (gRPC; tools/benchmark of the etcd repository).
import { spawn } from 'node:child_process';
import { totalCpuMs, waitedChildrenCpuMs } from './proc-cpu.js';

/** What one load case asks for; `read` is a single-key GET (raftkv) or Range (etcd). */
export interface LoadSpec {
  readonly op: 'put' | 'read' | 'mix';
  readonly connections: number;
  readonly consistency: 'linearizable' | 'serializable';
  /** For 'mix': the fraction of reads. */
  readonly readRatio: number;
}

/** One measured run of one system. */
export interface Measurement {
  readonly ok: number;
  readonly errors: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** NaN when the client's report has no 99.9th percentile (too few samples). */
  readonly p999Ms: number;
  /** CPU of the cluster's member processes (all threads) per acknowledged operation. */
  readonly serverCpuUsPerOp: number;
  /** CPU of the client process per acknowledged operation. */
  readonly clientCpuUsPerOp: number;
}

/** Bounds a client child: a run longer than this is killed and counted as failed. */
function childTimeoutMs(durationMs: number): number {
  return durationMs * 4 + 20_000;
}

function runChild(cmd: string, args: readonly string[], timeoutMs: number): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      if (stdout.length < 1_000_000) stdout += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, code });
    });
  });
}

/** `raftctl bench --json` against raftkv members: the leader first (its connections, sessions), then the others if given. */
export async function runRaftctlBench(raftctlBin: string, endpoints: readonly string[], spec: LoadSpec, durationMs: number, serverPids: readonly number[]): Promise<Measurement> {
  const op = spec.op === 'read' ? 'get' : spec.op;
  const args = [
    raftctlBin, 'bench', '--target', 'raftkv', '--endpoints', endpoints.join(','), '--op', op, '--connections', String(spec.connections),
    '--duration', `${durationMs}ms`, '--warmup', '0', '--value-bytes', '256', '--keys', '1000',
    '--read-ratio', String(spec.readRatio), '--consistency', spec.consistency, '--json',
  ];
  const server0 = totalCpuMs(serverPids);
  const { stdout, code } = await runChild(process.execPath, args, childTimeoutMs(durationMs));
  const serverMs = totalCpuMs(serverPids) - server0;
  const line = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`raftctl bench failed (exit ${code}): ${stdout.slice(0, 300)}`);
  const r = JSON.parse(line) as { ok: number; errors: number; opsPerSec: number; p50Ms: number; p99Ms: number; p999Ms: number; clientCpuMs: number };
  const ok = Math.max(1, r.ok);
  return { ok: r.ok, errors: r.errors, opsPerSec: r.opsPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, serverCpuUsPerOp: (serverMs * 1000) / ok, clientCpuUsPerOp: (r.clientCpuMs * 1000) / ok };
}

/** One "Summary" block of etcd's benchmark report. */
export interface EtcdReport {
  readonly ok: number;
  readonly errors: number;
  readonly totalSeconds: number;
  readonly opsPerSec: number;
  readonly fastestMs: number;
  readonly slowestMs: number;
  /** [percentile, ms] as the report prints them (10, 25, 50, 75, 90, 95, 99, 99.9). */
  readonly percentiles: readonly (readonly [number, number])[];
}

/** Parses every report block in the tool's output (one for put/range, read then write for txn-mixed). */
export function parseEtcdBenchmarkOutput(text: string): EtcdReport[] {
  const blocks = text.split(/^Summary:$/m).slice(1);
  return blocks.map((b) => {
    const num = (re: RegExp): number => {
      const m = re.exec(b);
      return m ? Number(m[1]) : Number.NaN;
    };
    const percentiles: [number, number][] = [];
    for (const m of b.matchAll(/^\s+([\d.]+)% in ([\d.]+) secs\.$/gm)) percentiles.push([Number(m[1]), Number(m[2]) * 1000]);
    const errorsPart = /Error distribution:\n([\s\S]*?)(?:\n\n|$)/.exec(b)?.[1] ?? '';
    const errors = [...errorsPart.matchAll(/\[(\d+)\]/g)].reduce((s, m) => s + Number(m[1]), 0);
    const totalSeconds = num(/Total:\s+([\d.]+) secs/);
    const opsPerSec = num(/Requests\/sec:\s+([\d.]+)/);
    return {
      ok: Math.round(opsPerSec * totalSeconds),
      errors,
      totalSeconds,
      opsPerSec,
      fastestMs: num(/Fastest:\s+([\d.]+) secs/) * 1000,
      slowestMs: num(/Slowest:\s+([\d.]+) secs/) * 1000,
      percentiles,
    };
  });
}

/** The latency at percentile `p` of one report, linear between the printed points; NaN beyond them. */
function reportPercentile(r: EtcdReport, p: number): number {
  return r.percentiles.find(([q]) => q === p)?.[1] ?? Number.NaN;
}

/**
 * The p-th percentile of several reports taken together (txn-mixed reports reads and writes
 * apart): the mixture of their distributions, each interpolated linearly between its printed
 * percentiles (fastest at 0, slowest at 100), weighted by its operation count.
 */
export function mixturePercentile(reports: readonly EtcdReport[], p: number): number {
  const total = reports.reduce((s, r) => s + r.ok, 0);
  if (total === 0) return Number.NaN;
  const cdf = (r: EtcdReport, ms: number): number => {
    const pts: [number, number][] = [[0, r.fastestMs], ...r.percentiles.map(([q, v]) => [q, v] as [number, number]), [100, r.slowestMs]];
    if (ms <= (pts[0]?.[1] ?? 0)) return 0;
    for (let i = 1; i < pts.length; i++) {
      const [q0, v0] = pts[i - 1] as [number, number];
      const [q1, v1] = pts[i] as [number, number];
      if (ms <= v1) return v1 === v0 ? q1 : q0 + ((q1 - q0) * (ms - v0)) / (v1 - v0);
    }
    return 100;
  };
  const mixed = (ms: number): number => reports.reduce((s, r) => s + (r.ok / total) * cdf(r, ms), 0);
  let lo = 0;
  let hi = Math.max(...reports.map((r) => r.slowestMs));
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2;
    if (mixed(mid) >= p) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** etcd's benchmark tool, `total` requests: at the leader (one endpoint) or spread over every member given. */
export async function runEtcdBenchmark(benchmarkBin: string, endpoints: readonly string[], spec: LoadSpec, total: number, durationMs: number, serverPids: readonly number[], readKey: string): Promise<Measurement> {
  // Clients share gRPC connections as etcd's performance guide runs the tool (about ten a connection).
  const conns = Math.max(1, Math.ceil(spec.connections / 10));
  const global = ['--endpoints', endpoints.join(','), ...(endpoints.length === 1 ? ['--target-leader'] : []), '--clients', String(spec.connections), '--conns', String(conns), '--precise'];
  const consistency = spec.consistency === 'linearizable' ? 'l' : 's';
  const cmd =
    spec.op === 'put'
      ? ['put', '--key-size', '8', '--val-size', '256', '--key-space-size', '1000', '--total', String(total)]
      : spec.op === 'read'
        ? ['range', readKey, '--consistency', consistency, '--total', String(total)]
        : ['txn-mixed', '--key-size', '8', '--val-size', '256', '--key-space-size', '1000', '--limit', '1', '--consistency', consistency,
          '--rw-ratio', String(spec.readRatio / (1 - spec.readRatio)), '--total', String(total)];
  const server0 = totalCpuMs(serverPids);
  const client0 = waitedChildrenCpuMs();
  const { stdout, code } = await runChild(benchmarkBin, [...global, ...cmd], childTimeoutMs(durationMs));
  const clientMs = waitedChildrenCpuMs() - client0;
  const serverMs = totalCpuMs(serverPids) - server0;
  const reports = parseEtcdBenchmarkOutput(stdout);
  if (code !== 0 || reports.length === 0) throw new Error(`etcd benchmark failed (exit ${code}): ${stdout.slice(0, 300)}`);
  const ok = reports.reduce((s, r) => s + r.ok, 0);
  const errors = reports.reduce((s, r) => s + r.errors, 0);
  const seconds = Math.max(...reports.map((r) => r.totalSeconds));
  const one = reports.length === 1 ? reports[0] : undefined;
  const pct = (p: number): number => (one ? reportPercentile(one, p) : mixturePercentile(reports, p));
  const okDiv = Math.max(1, ok);
  return { ok, errors, opsPerSec: ok / seconds, p50Ms: pct(50), p99Ms: pct(99), p999Ms: pct(99.9), serverCpuUsPerOp: (serverMs * 1000) / okDiv, clientCpuUsPerOp: (clientMs * 1000) / okDiv };
}
