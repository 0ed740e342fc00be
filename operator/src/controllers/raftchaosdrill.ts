// RaftChaosDrill reconciler. A Pending drill is started as an in-process run (bounded by its
// duration plus fixed settle/verify bounds) that probes writes, injects the fault, reads every
// acknowledged write back and records the verdict. A drill found Running with no run in this
// process (the operator restarted or lost the lease) is failed: its measurements are gone.
import type { RaftChaosDrill, RaftChaosDrillStatus, RaftCluster } from '../api/types.js';
import { API_VERSION, DESTRUCTIVE_DRILL_ACTIONS, PAUSE_ANNOTATION, PAUSE_VALUE, isPaused, parseDurationMs } from '../api/types.js';
import { memberName } from '../build/names.js';
import type { KubeObject } from '../kube/rest.js';
import { resourcePath } from '../kube/rest.js';
import type { MemberStatusResponse } from '../member-client/client.js';
import type { MemberCredentials } from '../member-client/client.js';
import { MemberClient } from '../member-client/client.js';
import { isoSeconds, setCondition } from './conditions.js';
import { forEachBounded, judgeDrill, longestUnavailableMs, steadyStateProblem } from './drill-verdict.js';
import { DrillLocks } from './drill-locks.js';
import { DEFAULT_RESTORE_DRILL_OPTIONS, RestoreDrillFailure, runRestoreDrill } from './restore-drill.js';
import type { RestoreDrillOptions } from './restore-drill.js';
import type { ControllerDeps } from './raftcluster.js';
import { readMemberCredentials } from './security.js';
import type { ReconcileResult } from './steps.js';

/** Bounds of a drill run. */
export interface DrillOptions {
  /** Longest drill duration accepted. */
  readonly maxDurationMs: number;
  /** Most probe writes kept for read-back. */
  readonly maxProbeWrites: number;
  /** Bound on waiting for the cluster to recover (a leader, a restarted member healthy). */
  readonly recoveryTimeoutMs: number;
  /** Probe keys go under this prefix (and are deleted after the read-back). */
  readonly keyPrefix: string;
  /** Steady-state check: the largest lag (commit - applied) a voter may show before injecting. Default 1000. */
  readonly steadyStateMaxLagEntries?: number;
  /** Concurrent read-back (and clean-up) requests. Default 16. */
  readonly readBackConcurrency?: number;
  /** How often a running drill checks it still exists (deleting it aborts it). Default 500 ms. */
  readonly abortPollMs?: number;
  /** Bounds of the RestoreBackup action. */
  readonly restore?: RestoreDrillOptions;
}

/** Defaults for the operator. */
export const DEFAULT_DRILL_OPTIONS: DrillOptions = { maxDurationMs: 30 * 60_000, maxProbeWrites: 50_000, recoveryTimeoutMs: 120_000, keyPrefix: '__raftkv_drill' };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Bound on lifting an injected fault (tries, and the pause between them). */
const LIFT_ATTEMPTS = 20;
const LIFT_RETRY_MS = 500;

/** Sleeps `ms`, or less when `signal` aborts (the drill was deleted). */
function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      r();
    }
    signal.addEventListener('abort', done);
  });
}

/** A destructive drill against a RaftCluster without spec.chaos.allowDestructive. */
class DrillNotAllowed extends Error {
  override readonly name = 'DrillNotAllowed';
}

/** The RaftChaosDrill reconciler. */
export class RaftChaosDrillController {
  private readonly running = new Map<string, Promise<void>>();

  private readonly locks: DrillLocks;

  constructor(private readonly deps: ControllerDeps, private readonly options: DrillOptions = DEFAULT_DRILL_OPTIONS) {
    this.locks = deps.drillLocks ?? new DrillLocks();
  }

  /** Drills running in this process. */
  get activeRuns(): number {
    return this.running.size;
  }

  /** Waits for every run in this process to finish (shutdown, tests). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  /** Reconciles `namespace/name` once. */
  async reconcile(key: string): Promise<ReconcileResult> {
    const [ns = '', name = ''] = key.split('/');
    const path = resourcePath(API_VERSION, 'RaftChaosDrill', ns, name);
    const drill = await this.deps.client.get<RaftChaosDrill & KubeObject>(path);
    if (drill === undefined) return { requeueAfterMs: undefined, reason: 'gone' };
    const phase = drill.status?.phase ?? 'Pending';
    if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Aborted') return { requeueAfterMs: undefined, reason: 'finished' };
    if (this.running.has(key)) return { requeueAfterMs: undefined, reason: 'running' };
    if (phase === 'Running') {
      await this.patchStatus(drill, { phase: 'Failed', finishedAt: isoSeconds(this.deps.now()), message: 'the operator restarted during the drill; its measurements are lost' }, 'Interrupted');
      return { requeueAfterMs: undefined, reason: 'interrupted' };
    }
    // One drill per cluster: a second one waits (Pending) until the first has finished.
    // A RestoreBackup drill never touches the cluster's members (it restores into a scratch
    // cluster): it takes a lock of its own, so it neither blocks membership changes nor waits for
    // fault drills; two restore drills of one cluster still run one at a time.
    const clusterKey = `${ns}/${drill.spec.clusterRef.name}${drill.spec.action === 'RestoreBackup' ? '#restore' : ''}`;
    if (!this.locks.acquire(clusterKey, key)) {
      const holder = this.locks.holder(clusterKey) ?? '';
      const message = `waiting for drill ${holder} on the same cluster to finish`;
      if (drill.status?.message !== message) await this.patchStatus(drill, { phase: 'Pending', message }, 'WaitingForOtherDrill');
      return { requeueAfterMs: 2000, reason: 'cluster locked by another drill' };
    }
    const run = this.run(drill).catch((err: unknown) => this.deps.log.error({ drill: key, err: String(err) }, 'drill run failed to record its result')).finally(() => {
      this.running.delete(key);
      this.locks.release(clusterKey, key);
    });
    this.running.set(key, run);
    return { requeueAfterMs: undefined, reason: 'started' };
  }

  /** The RestoreBackup action (restore-drill.ts): Succeeded with status.verifiedBackup, or Failed saying why. */
  private async runRestore(drill: RaftChaosDrill, cluster: RaftCluster, startMs: number): Promise<void> {
    const startedAt = isoSeconds(startMs);
    await this.patchStatus(drill, { phase: 'Running', startedAt, message: 'listing the backups' }, 'Running');
    try {
      const v = await runRestoreDrill(this.deps, drill, cluster, this.options.restore ?? DEFAULT_RESTORE_DRILL_OPTIONS, async (message) => {
        await this.patchStatus(drill, { phase: 'Running', startedAt, message }, 'Running');
      });
      const message = `${v.url} restored into ${v.scratchCluster}: checksum, revision ${v.revision} and ${v.keys} keys verified; scratch cluster deleted`;
      await this.patchStatus(drill, { phase: 'Succeeded', startedAt, finishedAt: isoSeconds(this.deps.now()), verifiedBackup: v, message }, 'BackupVerified');
      await this.deps.events.record(drill, 'Normal', 'BackupVerified', message);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await this.patchStatus(drill, { phase: 'Failed', startedAt, finishedAt: isoSeconds(this.deps.now()), message }, err instanceof RestoreDrillFailure ? 'BackupNotVerified' : 'DrillError');
      await this.deps.events.record(drill, 'Warning', 'BackupNotVerified', message);
    }
  }

  private async patchStatus(drill: RaftChaosDrill, status: RaftChaosDrillStatus, reason: string): Promise<void> {
    const ns = drill.metadata.namespace ?? 'default';
    const now = isoSeconds(this.deps.now());
    const done = status.phase === 'Succeeded' || status.phase === 'Failed' || status.phase === 'Aborted';
    const conditions = setCondition(drill.status?.conditions ?? [], {
      type: 'Complete', status: done ? 'True' : 'False', reason, message: status.message ?? reason,
    }, now);
    drill.status = { ...drill.status, ...status, conditions, ...(drill.metadata.generation === undefined ? {} : { observedGeneration: drill.metadata.generation }) };
    await this.deps.client.mergePatch(resourcePath(API_VERSION, 'RaftChaosDrill', ns, drill.metadata.name, 'status'), { status: drill.status });
  }

  private async run(drill: RaftChaosDrill): Promise<void> {
    const ns = drill.metadata.namespace ?? 'default';
    const startMs = this.deps.now();
    let cluster: RaftCluster | undefined;
    let durationMs = 0;
    let credentials: MemberCredentials;
    try {
      durationMs = parseDurationMs(drill.spec.duration);
      if (durationMs > this.options.maxDurationMs) throw new RangeError(`duration ${drill.spec.duration} exceeds ${this.options.maxDurationMs} ms`);
      cluster = await this.deps.client.get<RaftCluster & KubeObject>(resourcePath(API_VERSION, 'RaftCluster', ns, drill.spec.clusterRef.name));
      if (cluster === undefined) throw new Error(`RaftCluster ${drill.spec.clusterRef.name} not found`);
      if (isPaused(cluster.metadata)) throw new Error(`RaftCluster ${drill.spec.clusterRef.name} is paused (annotation ${PAUSE_ANNOTATION}: ${PAUSE_VALUE}); a drill writes to its members`);
      if (DESTRUCTIVE_DRILL_ACTIONS.includes(drill.spec.action) && cluster.spec.chaos?.allowDestructive !== true) {
        throw new DrillNotAllowed(`${drill.spec.action} injects a failure and RaftCluster ${drill.spec.clusterRef.name} does not allow that: set spec.chaos.allowDestructive: true on it (nothing was injected)`);
      }
      // A secured cluster: its CA and the admin token, read-only (the RaftCluster controller owns the Secrets).
      credentials = await readMemberCredentials(this.deps.client, cluster);
    } catch (err) {
      const reason = err instanceof DrillNotAllowed ? 'DestructiveNotAllowed' : 'InvalidDrill';
      await this.patchStatus(drill, { phase: 'Failed', startedAt: isoSeconds(startMs), finishedAt: isoSeconds(this.deps.now()), message: err instanceof Error ? err.message : String(err) }, reason);
      if (err instanceof DrillNotAllowed) await this.deps.events.record(drill, 'Warning', reason, err.message);
      return;
    }
    const c = cluster;
    if (drill.spec.action === 'RestoreBackup') {
      await this.runRestore(drill, c, startMs);
      return;
    }
    const names = (c.status?.members ?? []).map((m) => m.name);
    if (names.length === 0) for (let i = 0; i < c.spec.replicas; i++) names.push(memberName(c, i));
    const clientOf = (m: string): MemberClient => new MemberClient(this.deps.memberUrl(c, m), this.deps.memberClientOptions, credentials);
    // Steady state first: nothing is injected into a cluster that is changing or already hurt.
    const statuses = new Map(await Promise.all(names.map(async (n) => [n, await clientOf(n).status().catch(() => undefined)] as const)));
    const unsteady = steadyStateProblem({ clusterPhase: c.status?.phase, statuses, maxLagEntries: this.options.steadyStateMaxLagEntries ?? 1000 });
    if (unsteady !== undefined) {
      const message = `not started: ${unsteady}; nothing was injected`;
      await this.patchStatus(drill, { phase: 'Aborted', startedAt: isoSeconds(startMs), finishedAt: isoSeconds(this.deps.now()), message }, 'SteadyStateNotMet');
      await this.deps.events.record(drill, 'Warning', 'SteadyStateNotMet', message);
      return;
    }
    const before = await this.findLeader(names, clientOf);
    await this.patchStatus(drill, {
      phase: 'Running', startedAt: isoSeconds(startMs),
      ...(before === undefined ? {} : { leaderBefore: before.name, termBefore: before.term }),
    }, 'Running');
    // Deleting the drill aborts it: faults are lifted, probe keys removed, nothing more written.
    // Breaching the SLO (no write acknowledged for expect.maxUnavailableSeconds) aborts it too:
    // faults are lifted at once, and the read-back and verdict (RecoveryTooSlow) still happen.
    const abort = new AbortController();
    const drillPath = resourcePath(API_VERSION, 'RaftChaosDrill', ns, drill.metadata.name);
    const acks: { key: string; value: string; atMs: number }[] = [];
    const probeStartMs = this.deps.now();
    const sloMs = drill.spec.expect.maxUnavailableSeconds * 1000;
    let deleted = false;
    let sloBreached = false;
    const watchdog = (async () => {
      while (!abort.signal.aborted) {
        await sleep(this.options.abortPollMs ?? 500);
        if (abort.signal.aborted) break;
        const now = await this.deps.client.get<RaftChaosDrill & KubeObject>(drillPath).catch(() => drill);
        if (now === undefined || now.metadata.deletionTimestamp !== undefined || now.metadata.uid !== drill.metadata.uid) {
          deleted = true;
          abort.abort();
        } else if (this.deps.now() - (acks.at(-1)?.atMs ?? probeStartMs) > sloMs) {
          sloBreached = true;
          abort.abort();
        }
      }
    })();
    // Probe: unique keys at writesPerSecond, any member (redirects reach the leader).
    let probing = true;
    let seq = 0;
    const intervalMs = Math.max(5, Math.floor(1000 / drill.spec.probe.writesPerSecond));
    const probe = (async () => {
      let target = 0;
      while (probing && !abort.signal.aborted && acks.length < this.options.maxProbeWrites) {
        const key = `${this.options.keyPrefix}/${drill.metadata.name}/${drill.metadata.uid ?? ''}/${seq}`;
        const value = `w${seq}`;
        seq++;
        const t0 = this.deps.now();
        for (let attempt = 0; attempt < names.length && probing; attempt++) {
          try {
            await clientOf(names[(target + attempt) % names.length] ?? '').put(key, value, key);
            acks.push({ key, value, atMs: this.deps.now() });
            target = (target + attempt) % names.length;
            break;
          } catch {
            // try the next member
          }
        }
        await sleep(Math.max(0, intervalMs - (this.deps.now() - t0)));
      }
    })();
    let error: string | undefined;
    try {
      await sleepUnless(Math.min(2000, durationMs / 4), abort.signal);
      await this.inject(drill, c, names, clientOf, durationMs, before, abort.signal);
    } catch (err) {
      error = `action ${drill.spec.action} failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    probing = false;
    await probe;
    const endMs = this.deps.now();
    const after = deleted ? await this.findLeader(names, clientOf) : await this.waitForLeader(names, clientOf);
    let lost = 0;
    const concurrency = this.options.readBackConcurrency ?? 16;
    let leftKeys = 0;
    if (after === undefined) error ??= `no leader within ${this.options.recoveryTimeoutMs} ms after the drill`;
    else {
      const reader = clientOf(after.name);
      if (!deleted) {
        lost = await forEachBounded(acks, concurrency, async (a) => {
          const got = await reader.get(a.key).catch(() => undefined);
          if (got !== a.value) throw new Error('lost');
        });
      }
      leftKeys = await forEachBounded(acks, concurrency, (a) => reader.delete(a.key));
    }
    abort.abort();
    await watchdog;
    if (deleted) {
      this.deps.log.info({ drill: `${ns}/${drill.metadata.name}` }, 'drill deleted while running: aborted, faults lifted, probe keys removed');
      return;
    }
    const unavailableMs = longestUnavailableMs(acks.map((a) => a.atMs), startMs, endMs);
    const verdict = judgeDrill({ acknowledgedWrites: acks.length, lostWrites: lost, unavailableMs, maxUnavailableSeconds: drill.spec.expect.maxUnavailableSeconds, ...(error === undefined ? {} : { error }) });
    const cleanup = (sloBreached ? `; aborted early: no write acknowledged for over ${drill.spec.expect.maxUnavailableSeconds} s, faults lifted` : '')
      + (leftKeys > 0 ? `; ${leftKeys} probe keys could not be deleted (prefix ${this.options.keyPrefix}/${drill.metadata.name}/)` : '');
    await this.patchStatus(drill, {
      phase: verdict.phase, finishedAt: isoSeconds(this.deps.now()), unavailableMs, acknowledgedWrites: acks.length, lostWrites: lost, message: `${verdict.message}${cleanup}`,
      ...(after === undefined ? {} : { leaderAfter: after.name, termAfter: after.term }),
    }, verdict.reason);
    await this.deps.events.record(drill, verdict.phase === 'Succeeded' ? 'Normal' : 'Warning', verdict.reason, verdict.message);
  }

  private async findLeader(names: readonly string[], clientOf: (m: string) => MemberClient): Promise<MemberStatusResponse | undefined> {
    const statuses = await Promise.all(names.map((n) => clientOf(n).status().catch(() => undefined)));
    let best: MemberStatusResponse | undefined;
    for (const s of statuses) if (s?.role === 'leader' && (best === undefined || s.term > best.term)) best = s;
    return best;
  }

  private async waitForLeader(names: readonly string[], clientOf: (m: string) => MemberClient): Promise<MemberStatusResponse | undefined> {
    const deadline = this.deps.now() + this.options.recoveryTimeoutMs;
    for (;;) {
      const l = await this.findLeader(names, clientOf);
      if (l !== undefined || this.deps.now() > deadline) return l;
      await sleep(500);
    }
  }

  private async waitHealthy(member: string, clientOf: (m: string) => MemberClient, sinceMs: number): Promise<void> {
    const deadline = this.deps.now() + this.options.recoveryTimeoutMs;
    // Give the pod time to actually go away before trusting a healthy answer.
    await sleep(Math.min(3000, Math.max(0, sinceMs + 1000 - this.deps.now())));
    for (;;) {
      const s = await clientOf(member).status().catch(() => undefined);
      if (s !== undefined && s.leader !== null) return;
      if (this.deps.now() > deadline) throw new Error(`${member} not healthy within ${this.options.recoveryTimeoutMs} ms`);
      await sleep(500);
    }
  }

  private async inject(drill: RaftChaosDrill, cluster: RaftCluster, names: readonly string[], clientOf: (m: string) => MemberClient, durationMs: number, before: MemberStatusResponse | undefined, signal: AbortSignal): Promise<void> {
    const ns = cluster.metadata.namespace ?? 'default';
    const leader = before?.name;
    const follower = names.find((n) => n !== leader);
    const deletePod = async (pod: string): Promise<void> => {
      await this.deps.client.delete(resourcePath('v1', 'Pod', ns, pod));
      await this.deps.events.record(drill, 'Normal', 'DeletedPod', `deleted pod ${pod}`);
    };
    switch (drill.spec.action) {
      case 'KillLeader':
        if (leader === undefined) throw new Error('no leader to kill');
        await deletePod(leader);
        await sleepUnless(durationMs, signal);
        return;
      case 'KillFollower':
        if (follower === undefined) throw new Error('no follower to kill');
        await deletePod(follower);
        await sleepUnless(durationMs, signal);
        return;
      case 'PartitionLeader':
      case 'IsolateFollower': {
        const target = drill.spec.action === 'PartitionLeader' ? leader : follower;
        if (target === undefined) throw new Error(`no ${drill.spec.action === 'PartitionLeader' ? 'leader' : 'follower'} to partition`);
        await clientOf(target).setFaults({ dropPeerTraffic: true, durationMs });
        try {
          await this.deps.events.record(drill, 'Normal', 'Partitioned', `${target} drops peer traffic for ${durationMs} ms`);
          await sleepUnless(durationMs, signal);
        } finally {
          // Lifted also on abort, retried while the member does not answer (bounded; the member
          // lifts it itself after durationMs in any case).
          for (let attempt = 0; attempt < LIFT_ATTEMPTS; attempt++) {
            if (await clientOf(target).setFaults({ dropPeerTraffic: false }).then(() => true, () => false)) break;
            await sleep(LIFT_RETRY_MS);
          }
        }
        return;
      }
      case 'RollingRestart':
        for (const n of [...names].sort((a, b) => (a === leader ? 1 : 0) - (b === leader ? 1 : 0))) {
          if (signal.aborted) return;
          const t = this.deps.now();
          await deletePod(n);
          await this.waitHealthy(n, clientOf, t);
        }
        await sleepUnless(Math.min(durationMs, 5000), signal);
        return;
    }
  }
}
