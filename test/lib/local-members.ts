// What the operator-tier tests share when they play the kubelet for REAL raftkv members on
// 127.0.0.1: each member's loopback ports, the member processes (killed by pid when the test
// process exits, whatever happens), and the URLs the operator is pointed at.
import type { ChildProcess } from 'node:child_process';
import { freeLoopbackPort } from './e2e-env.js';

/** Client and peer ports of one member. */
export interface MemberPorts {
  readonly client: number;
  readonly peer: number;
}

/** Member processes by name, with their ports. */
export class LocalMembers {
  readonly procs = new Map<string, ChildProcess>();
  readonly ports = new Map<string, MemberPorts>();

  /** `scheme` of the members' client URLs (`https` for members started with --cert/--key). */
  constructor(private readonly scheme: 'http' | 'https' = 'http') {
    process.on('exit', () => this.killAll());
  }

  /** Gives `names` free loopback ports (once each). */
  async allocate(names: readonly string[]): Promise<void> {
    for (const n of names) if (!this.ports.has(n)) this.ports.set(n, { client: await freeLoopbackPort(), peer: await freeLoopbackPort() });
  }

  clientUrl(name: string): string {
    return `${this.scheme}://127.0.0.1:${this.ports.get(name)?.client ?? 1}`;
  }

  peerAddr(name: string): string {
    return `127.0.0.1:${this.ports.get(name)?.peer ?? 1}`;
  }

  /** SIGTERM (a kubelet's pod deletion), SIGKILL after 12 s; resolves once the member exited. */
  async stop(name: string): Promise<void> {
    const p = this.procs.get(name);
    this.procs.delete(name);
    if (p?.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    process.kill(p.pid, 'SIGTERM');
    const t = setTimeout(() => p.pid !== undefined && p.exitCode === null && process.kill(p.pid, 'SIGKILL'), 12_000);
    await exited;
    clearTimeout(t);
  }

  /** Stops every member (SIGTERM, then SIGKILL), e.g. in a test's `after`. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((n) => this.stop(n)));
    this.killAll();
  }

  /** SIGKILLs every member still running (by pid). */
  killAll(): void {
    for (const p of this.procs.values()) if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) process.kill(p.pid, 'SIGKILL');
  }
}
