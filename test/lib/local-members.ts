// What the operator-tier tests share when they play the kubelet for REAL raftkv members on
// 127.0.0.1: each member's loopback ports, the member processes (killed by pid when the test
// process exits, whatever happens), and the URLs the operator is pointed at.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { OperatorOptions } from '../../operator/src/operator.js';
import { freeLoopbackPort } from './e2e-env.js';

const QUIET_LOG: OperatorOptions['log'] = { info: () => undefined, warn: () => undefined, error: () => undefined };

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

  /**
   * The operator options every real-member test shares: watch `default`, a short Lease named
   * after `identity`, these members' URLs, quick polls; `overrides` replace any of them.
   */
  operatorOptions(kubeConfig: KubeConfig, identity: string, overrides: Partial<OperatorOptions> = {}): OperatorOptions {
    return {
      kubeConfig, namespaces: ['default'], identity, log: QUIET_LOG,
      lease: { name: identity, namespace: 'default', durationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 },
      memberUrl: (_c, m) => this.clientUrl(m),
      memberAdvertise: (_c, m) => ({ peerUrl: this.peerAddr(m), clientUrl: this.clientUrl(m) }),
      memberClient: { requestTimeoutMs: 2000, maxRedirects: 3 },
      raftCluster: { pollIntervalMs: 500, stepRequeueMs: 200, learnerMaxLagEntries: 100 },
      ...overrides,
    };
  }

  /**
   * The `after` of a real-member test: its kubelet loop, the operator, these members, the control
   * plane, then its data directory (each part optional, so a failed `before` still cleans up).
   */
  async teardown(rig: { readonly kubelet?: NodeJS.Timeout | undefined; readonly op?: { stop(): Promise<void> } | undefined; readonly cp?: { stop(): Promise<void> } | undefined; readonly dir: string }): Promise<void> {
    if (rig.kubelet !== undefined) clearInterval(rig.kubelet);
    await rig.op?.stop();
    await this.stopAll();
    await rig.cp?.stop();
    rmSync(rig.dir, { recursive: true, force: true });
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
