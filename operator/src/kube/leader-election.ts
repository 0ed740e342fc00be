// Leader election on a coordination.k8s.io/v1 Lease, so that of several operator replicas exactly
// one acts. Updates are compare-and-swap on the Lease's resourceVersion; a holder that cannot renew
// within renewDeadlineMs stops acting before anyone else may take the lease (leaseDurationMs later).
import type { KubeClient, KubeObject } from './rest.js';
import { isConflict, resourcePath } from './rest.js';

/** Timing of the election (client-go's defaults scaled by the same ratios). */
export interface LeaderElectionOptions {
  readonly leaseName: string;
  readonly leaseNamespace: string;
  /** This replica's identity (pod name + random suffix). */
  readonly identity: string;
  /** How long a lease is valid after its last renewal. */
  readonly leaseDurationMs: number;
  /** A leader that could not renew for this long stops leading; must be < leaseDurationMs. */
  readonly renewDeadlineMs: number;
  /** Interval of acquire/renew attempts. */
  readonly retryPeriodMs: number;
}

interface Lease extends KubeObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** MicroTime as the API server wants it (RFC 3339 with 6 fractional digits). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Runs the election loop; onStarted/onStopped are each called at most once per term of leadership. */
export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenewMs = 0;
  private stopped = false;
  private observed: { holder: string; renewMs: number; rv: string } | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly options: LeaderElectionOptions,
    private readonly callbacks: { onStartedLeading: () => void; onStoppedLeading: () => void; onError: (err: unknown) => void },
  ) {
    if (!(options.renewDeadlineMs < options.leaseDurationMs && options.retryPeriodMs < options.renewDeadlineMs)) {
      throw new RangeError('leader election needs retryPeriodMs < renewDeadlineMs < leaseDurationMs');
    }
  }

  /** True while this replica holds the lease. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts trying to acquire, then renewing. */
  start(): void {
    this.tick();
  }

  /** Stops; a leader releases the lease (so a standby takes over without waiting for expiry). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.leading) {
      this.setLeading(false);
      await this.release().catch((err: unknown) => this.callbacks.onError(err));
    }
  }

  private tick(): void {
    if (this.stopped) return;
    this.tryAcquireOrRenew().then((ok) => {
      if (ok) {
        this.lastRenewMs = Date.now();
        if (!this.leading) this.setLeading(true);
      } else if (this.leading && Date.now() - this.lastRenewMs > this.options.renewDeadlineMs) {
        this.setLeading(false);
      }
    }, (err: unknown) => {
      this.callbacks.onError(err);
      if (this.leading && Date.now() - this.lastRenewMs > this.options.renewDeadlineMs) this.setLeading(false);
    }).finally(() => {
      if (this.stopped) return;
      this.timer = setTimeout(() => this.tick(), this.options.retryPeriodMs);
    });
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    if (leading) this.callbacks.onStartedLeading();
    else this.callbacks.onStoppedLeading();
  }

  private path(): string {
    return resourcePath('coordination.k8s.io/v1', 'Lease', this.options.leaseNamespace, this.options.leaseName);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const o = this.options;
    const spec = { holderIdentity: o.identity, leaseDurationSeconds: Math.ceil(o.leaseDurationMs / 1000), renewTime: microTime(now) };
    const lease = await this.client.get<Lease>(this.path());
    if (lease === undefined) {
      try {
        await this.client.create(resourcePath('coordination.k8s.io/v1', 'Lease', o.leaseNamespace), {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: o.leaseName, namespace: o.leaseNamespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const holder = lease.spec?.holderIdentity ?? '';
    const rv = lease.metadata.resourceVersion ?? '';
    // Expiry is judged by our own clock from when we last saw the record change, as client-go
    // does, so clock skew between replicas cannot make a live lease look expired.
    if (this.observed === undefined || this.observed.rv !== rv) this.observed = { holder, renewMs: now, rv };
    const held = holder !== '' && holder !== o.identity;
    const expired = now - this.observed.renewMs > (lease.spec?.leaseDurationSeconds ?? Math.ceil(o.leaseDurationMs / 1000)) * 1000;
    if (held && !expired) return false;
    const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === o.identity ? 0 : 1);
    try {
      await this.client.replace(this.path(), {
        ...lease,
        spec: { ...lease.spec, ...spec, leaseTransitions: transitions, ...(holder === o.identity ? {} : { acquireTime: microTime(now) }) },
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.client.get<Lease>(this.path());
    if (lease?.spec?.holderIdentity !== this.options.identity) return;
    await this.client.replace(this.path(), { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
  }
}
