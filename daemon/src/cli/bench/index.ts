// `raftctl bench`: drives one member (raftkv or etcd) with the load generator and prints the
// measurements as a line of text or JSON.
import { DEFAULT_BENCH_OPTIONS, preload, runLoad } from './load-generator.js';
import type { BenchOp, BenchOptions, BenchTarget, BenchTls } from './load-generator.js';

export { runLoad, preload, DEFAULT_BENCH_OPTIONS } from './load-generator.js';
export type { BenchOptions, BenchResult, BenchOp, BenchTarget, BenchTls, BenchReadConsistency } from './load-generator.js';

export const BENCH_USAGE =
  'usage: raftctl bench [--target raftkv|etcd] [--endpoint HOST:PORT | --endpoints HOST:PORT,...] [--op put|get|mix] [--connections N] ' +
  '[--duration 10s] [--warmup 1s] [--value-bytes N] [--keys N] [--read-ratio 0.9] [--consistency linearizable|serializable] [--sessions true|false] [--preload] [--json]\n' +
  '  raftkv puts go through one client session per connection (Session-Id/Session-Seq) unless --sessions false\n' +
  '  --endpoints spreads the connections over several members (sessions and --preload use the first, which must be the leader);\n' +
  '  a follower\'s 307 to the leader is followed, and the latency includes that hop\n' +
  '  an https:// endpoint uses TLS with raftctl\'s --cacert/--cert/--key; --token (or $RAFTKV_TOKEN) is sent as a bearer token';

/** A usage problem: the caller prints USAGE and exits 2. */
class BenchUsageError extends Error {}

/** Parses "10s", "500ms", "2m" or a bare number of milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new BenchUsageError(`bad duration: ${text}`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return Math.round(unit === 'm' ? n * 60_000 : unit === 's' ? n * 1000 : n);
}

function positiveInt(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new BenchUsageError(`${name} must be a positive integer`);
  return n;
}

/** Parses bench flags into options; throws BenchUsageError on bad input. */
export function parseBenchArgs(argv: readonly string[]): { options: BenchOptions; json: boolean; preload: boolean } {
  let o: BenchOptions = { ...DEFAULT_BENCH_OPTIONS };
  let json = false;
  let doPreload = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new BenchUsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--target': {
        const t = value();
        if (t !== 'raftkv' && t !== 'etcd') throw new BenchUsageError('--target must be raftkv or etcd');
        o = { ...o, target: t as BenchTarget };
        break;
      }
      case '--endpoint': o = { ...o, endpoint: value() }; break;
      case '--endpoints': {
        const list = value().split(',').map((e) => e.trim()).filter((e) => e !== '');
        if (list.length === 0) throw new BenchUsageError('--endpoints needs HOST:PORT[,HOST:PORT...]');
        o = { ...o, endpoint: list[0] ?? '', endpoints: list };
        break;
      }
      case '--op': {
        const op = value();
        if (op !== 'put' && op !== 'get' && op !== 'mix') throw new BenchUsageError('--op must be put, get or mix');
        o = { ...o, op: op as BenchOp };
        break;
      }
      case '--connections': o = { ...o, connections: positiveInt('--connections', value()) }; break;
      case '--duration': o = { ...o, durationMs: parseDurationMs(value()) }; break;
      case '--warmup': o = { ...o, warmupMs: parseDurationMs(value()) }; break;
      case '--value-bytes': o = { ...o, valueBytes: positiveInt('--value-bytes', value()) }; break;
      case '--keys': o = { ...o, keyCount: positiveInt('--keys', value()) }; break;
      case '--read-ratio': {
        const r = Number(value());
        if (!(r >= 0 && r <= 1)) throw new BenchUsageError('--read-ratio must be within 0..1');
        o = { ...o, readRatio: r };
        break;
      }
      case '--consistency': {
        const c = value();
        if (c !== 'linearizable' && c !== 'serializable') throw new BenchUsageError('--consistency must be linearizable or serializable');
        o = { ...o, readConsistency: c };
        break;
      }
      case '--sessions': {
        const v = value();
        if (v !== 'true' && v !== 'false') throw new BenchUsageError('--sessions must be true or false');
        o = { ...o, sessions: v === 'true' };
        break;
      }
      case '--preload': doPreload = true; break;
      case '--json': json = true; break;
      default: throw new BenchUsageError(`unknown flag: ${flag}`);
    }
  }
  return { options: o, json, preload: doPreload };
}

/** Credentials raftctl's global flags give the bench (--token, --cacert/--cert/--key). */
export interface BenchCredentials {
  readonly token: string | null;
  readonly tls: BenchTls | null;
}

/** Entry point for `raftctl bench ARGS`; returns the process exit code (0 ok, 1 failure, 2 usage). */
export async function runBench(argv: readonly string[], credentials: BenchCredentials = { token: null, tls: null }): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  let parsed: ReturnType<typeof parseBenchArgs>;
  try {
    parsed = parseBenchArgs(argv);
    parsed = { ...parsed, options: { ...parsed.options, token: credentials.token, tls: credentials.tls } };
  } catch (err) {
    if (err instanceof BenchUsageError) {
      process.stderr.write(`raftctl bench: ${err.message}\n${BENCH_USAGE}\n`);
      return 2;
    }
    throw err;
  }
  try {
    if (parsed.preload) await preload(parsed.options);
    const r = await runLoad(parsed.options);
    if (parsed.json) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } else {
      process.stdout.write(
        `${r.target} ${r.op} c=${r.connections}: ${r.opsPerSec.toFixed(0)} ops/s, ` +
          `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, p99.9 ${r.p999Ms.toFixed(2)} ms, ` +
          `ok ${r.ok}, errors ${r.errors}${r.errors ? ` ${JSON.stringify(r.errorStatuses)}` : ''}\n`,
      );
    }
    return r.ok > 0 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`raftctl bench: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
