// Where chaos members live and how links between them are cut. With root and iproute2, each
// member gets its own network namespace and address on a private bridge, and partitions are
// iptables DROP rules inside the namespaces (one way or both). Otherwise members share the
// loopback device on 127.0.0.x addresses and partitions go through the daemon's own
// fault-injection endpoint, which the summary says plainly.
import { execFileSync } from 'node:child_process';

/** Bound on how many members one network can hold (addresses .10 .. .10+N). */
export const MAX_CHAOS_MEMBERS = 9;

export interface ChaosNetwork {
  /** 'netns' (real partitions) or 'loopback' (daemon-side fault injection). */
  readonly kind: 'netns' | 'loopback';
  /** The address member `i` listens on. */
  address(i: number): string;
  /** The command prefix that runs a process as member `i` (e.g. ['ip','netns','exec',ns]). */
  wrap(i: number): string[];
  /** Drops packets member `to` receives from member `from` (one direction). */
  cut(from: number, to: number): Promise<void>;
  /** Removes every cut. */
  heal(): Promise<void>;
  /** Tears everything down (idempotent). */
  destroy(): void;
  describe(): string;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

/** Real network namespaces on a bridge; needs root, iproute2 and iptables. */
export class NamespaceNetwork implements ChaosNetwork {
  readonly kind = 'netns' as const;
  private readonly prefix: string;
  private readonly bridge: string;
  private readonly subnet: string;
  private created = false;

  constructor(private readonly members: number, runId: number) {
    if (members > MAX_CHAOS_MEMBERS) throw new Error(`at most ${MAX_CHAOS_MEMBERS} members`);
    const id = runId % 200;
    this.prefix = `rkvc${id}`;
    this.bridge = `rkvbr${id}`;
    // 10.250.<id>.0/24: a private range used only inside namespaces this run creates.
    this.subnet = `10.250.${id + 20}`;
  }

  /** True when this process can create namespaces and use iptables in them. */
  static available(): boolean {
    if (process.getuid?.() !== 0) return false;
    const probe = `rkvprobe${process.pid % 10000}`;
    const ok = tryRun('ip', ['netns', 'add', probe]) && tryRun('ip', ['netns', 'exec', probe, 'iptables', '-L', '-n']);
    tryRun('ip', ['netns', 'del', probe]);
    return ok;
  }

  address(i: number): string {
    return `${this.subnet}.${10 + i}`;
  }

  wrap(i: number): string[] {
    return ['ip', 'netns', 'exec', this.ns(i)];
  }

  private ns(i: number): string {
    return `${this.prefix}n${i}`;
  }

  /** Creates the bridge and one namespace per member; removes leftovers of a crashed run first. */
  setup(): void {
    this.destroy();
    this.created = true;
    run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge]);
    run('ip', ['link', 'set', this.bridge, 'up']);
    for (let i = 0; i < this.members; i++) {
      const ns = this.ns(i);
      const host = `${this.prefix}v${i}`;
      const peer = `${this.prefix}p${i}`;
      run('ip', ['netns', 'add', ns]);
      run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
      run('ip', ['link', 'set', peer, 'netns', ns]);
      run('ip', ['link', 'set', host, 'master', this.bridge]);
      run('ip', ['link', 'set', host, 'up']);
      run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${this.address(i)}/24`, 'dev', peer]);
      run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up']);
      run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    }
  }

  async cut(from: number, to: number): Promise<void> {
    run('ip', ['netns', 'exec', this.ns(to), 'iptables', '-A', 'INPUT', '-s', this.address(from), '-j', 'DROP']);
  }

  async heal(): Promise<void> {
    for (let i = 0; i < this.members; i++) tryRun('ip', ['netns', 'exec', this.ns(i), 'iptables', '-F', 'INPUT']);
  }

  destroy(): void {
    for (let i = 0; i < MAX_CHAOS_MEMBERS; i++) {
      tryRun('ip', ['netns', 'del', this.ns(i)]);
      tryRun('ip', ['link', 'del', `${this.prefix}v${i}`]);
    }
    tryRun('ip', ['link', 'del', this.bridge]);
    this.created = false;
  }

  describe(): string {
    return `network namespaces ${this.prefix}n0..${this.members - 1} on bridge ${this.bridge} (${this.subnet}.0/24), partitions by iptables${this.created ? '' : ' (torn down)'}`;
  }
}

/**
 * Fallback without namespaces: members on 127.0.0.x, partitions through each daemon's
 * POST /v1/debug/faults (dropPeers). The cut is applied by the member harness, which knows
 * member names, so `cut` here records intent and `applyCuts` is provided by the caller.
 */
export class LoopbackNetwork implements ChaosNetwork {
  readonly kind = 'loopback' as const;
  /** to → set of from */
  readonly cuts = new Map<number, Set<number>>();

  constructor(private readonly onChange: (cuts: ReadonlyMap<number, ReadonlySet<number>>) => Promise<void>) {}

  address(i: number): string {
    return `127.0.0.${10 + i}`;
  }

  wrap(_i: number): string[] {
    return [];
  }

  async cut(from: number, to: number): Promise<void> {
    const s = this.cuts.get(to) ?? new Set<number>();
    s.add(from);
    this.cuts.set(to, s);
    await this.onChange(this.cuts);
  }

  async heal(): Promise<void> {
    this.cuts.clear();
    await this.onChange(this.cuts);
  }

  destroy(): void {
    this.cuts.clear();
  }

  describe(): string {
    return 'loopback 127.0.0.x (no network namespaces here): partitions injected by the daemons\' fault endpoint, not the kernel';
  }
}
