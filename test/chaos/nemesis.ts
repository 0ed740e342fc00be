// The nemeses: faults scheduled from the seed and applied to real member processes and real
// links. Each nemesis injects, waits, and heals itself; the scheduler runs them back to back
// (a membership change may overlap another fault) until the run's time is up.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosNetwork } from './network.js';
import type { ChaosMember, MemberSet, UnexpectedExit } from './members.js';
import type { ChaosRng } from './rng.js';

export type NemesisName = 'partition' | 'kill' | 'pause' | 'disk' | 'membership' | 'transfer';
export const ALL_NEMESES: readonly NemesisName[] = ['partition', 'kill', 'pause', 'disk', 'membership', 'transfer'];

/** Bound on any single control request the nemesis makes to a member. */
const CONTROL_TIMEOUT_MS = 2_000;

export interface MemberStatusLite {
  readonly name: string;
  readonly role: string;
  readonly term: number;
  readonly leader: { readonly name: string } | null;
  readonly appliedIndex: number;
  readonly commitIndex: number;
  readonly members: readonly { readonly name: string; readonly voter: boolean }[];
}

export async function fetchStatus(clientUrl: string): Promise<MemberStatusLite | null> {
  try {
    const res = await fetch(`${clientUrl}/v1/status`, { signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS) });
    if (!res.ok) return null;
    return (await res.json()) as MemberStatusLite;
  } catch {
    return null;
  }
}

/** The leader as seen by a majority of reachable members' own role, or null. */
export async function findLeader(set: MemberSet): Promise<ChaosMember | null> {
  const statuses = await Promise.all(set.running().map(async (m) => ({ m, s: await fetchStatus(set.clientUrl(m.index)) })));
  const leaders = statuses.filter((x) => x.s?.role === 'leader').sort((a, b) => (b.s?.term ?? 0) - (a.s?.term ?? 0));
  return leaders[0]?.m ?? null;
}

async function post(url: string, body: unknown, method = 'POST'): Promise<number> {
  try {
    const res = await fetch(url, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS * 3),
      redirect: 'follow',
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export interface NemesisContext {
  readonly set: MemberSet;
  readonly network: ChaosNetwork;
  readonly rng: ChaosRng;
  readonly electionTimeoutMs: number;
  readonly log: (line: string) => void;
  /** Counts of faults injected, by kind. */
  readonly counts: Map<string, number>;
  /** Members removed from the configuration and not yet re-added. */
  readonly removed: Set<string>;
  /** What each full-disk episode observed (judged by checkDiskFull at the end). */
  readonly diskEpisodes: DiskEpisode[];
}

/** One full-disk episode: how the full member answered a write, and whether it came back. */
export interface DiskEpisode {
  readonly member: string;
  /** Role of the full member when probed. */
  role: string;
  /**
   * HTTP status of the first non-2xx answer to writes sent straight to the full member (no
   * redirect followed; 0 = no answer), or the last 2xx if every probe write was accepted.
   */
  probeStatus: number;
  /** The JSON error code/message of that answer, or why there was none. */
  probeMessage: string;
  /** Probe writes the full member acknowledged before refusing (RocksDB preallocates its WAL). */
  probeAccepted: number;
  /** Member processes that exited on their own during the episode (see MemberSet.unexpectedExits). */
  exits: UnexpectedExit[];
  /** ms from space returning until the member had applied everything the leader had committed (-1 = not within the bound). */
  recoveredMs: number;
}

/** Bound on waiting for a member to catch up after its disk has space again. */
const DISK_RECOVERY_TIMEOUT_MS = 30_000;
/**
 * Probe writes sent to a full member: up to MAX_PROBE_WRITES of PROBE_VALUE_BYTES (128 MiB),
 * enough to use up the WAL space RocksDB preallocated before the disk filled (about 1.1 × its
 * 64 MiB write buffer) so the refusal path is reached; bounded in count and time so a member
 * that never refuses cannot hold the episode forever.
 */
const MAX_PROBE_WRITES = 128;
const PROBE_VALUE_BYTES = 1024 * 1024;
const PROBE_DEADLINE_MS = 20_000;

async function probeWrite(url: string, body: string): Promise<{ status: number; message: string }> {
  try {
    const res = await fetch(url, { method: 'PUT', body, redirect: 'manual', signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS * 3) });
    const text = await res.text();
    let message = text.slice(0, 160);
    try {
      const body = JSON.parse(text) as { code?: string; message?: string; error?: string };
      message = `${body.code ?? ''} ${body.message ?? body.error ?? ''}`.trim();
    } catch {
      if (res.status >= 400) message = `non-JSON body: ${message}`;
    }
    return { status: res.status, message };
  } catch (err) {
    return { status: 0, message: err instanceof Error ? err.message : String(err) };
  }
}

function count(ctx: NemesisContext, kind: string): void {
  ctx.counts.set(kind, (ctx.counts.get(kind) ?? 0) + 1);
}

async function cutBoth(ctx: NemesisContext, a: readonly number[], b: readonly number[]): Promise<void> {
  for (const x of a) for (const y of b) {
    await ctx.network.cut(x, y);
    await ctx.network.cut(y, x);
  }
}

/** Partitions: halves, isolate the leader, a bridge, or one-way. */
async function partition(ctx: NemesisContext): Promise<void> {
  const n = ctx.set.members.length;
  const all = ctx.set.members.map((m) => m.index);
  const kind = ctx.rng.pick(['halves', 'isolate-leader', 'bridge', 'one-way'] as const);
  if (kind === 'halves') {
    const shuffled = ctx.rng.shuffle(all);
    const minority = shuffled.slice(0, Math.floor((n - 1) / 2));
    const majority = shuffled.slice(minority.length);
    ctx.log(`partition halves ${minority.map((i) => `n${i}`).join(',')} | ${majority.map((i) => `n${i}`).join(',')}`);
    await cutBoth(ctx, minority, majority);
  } else if (kind === 'isolate-leader') {
    const leader = await findLeader(ctx.set);
    const target = leader?.index ?? ctx.rng.pick(all);
    ctx.log(`partition isolate n${target}${leader ? ' (leader)' : ''}`);
    await cutBoth(ctx, [target], all.filter((i) => i !== target));
  } else if (kind === 'bridge') {
    const shuffled = ctx.rng.shuffle(all);
    const bridge = shuffled[0] ?? 0;
    const rest = shuffled.slice(1);
    const a = rest.slice(0, Math.floor(rest.length / 2));
    const b = rest.slice(a.length);
    ctx.log(`partition bridge n${bridge} between ${a.map((i) => `n${i}`).join(',')} and ${b.map((i) => `n${i}`).join(',')}`);
    await cutBoth(ctx, a, b);
  } else {
    const target = ctx.rng.pick(all);
    const inbound = ctx.rng.below(2) === 0;
    ctx.log(`partition one-way: n${target} ${inbound ? 'hears nobody' : 'is heard by nobody'}`);
    for (const other of all) {
      if (other === target) continue;
      if (inbound) await ctx.network.cut(other, target);
      else await ctx.network.cut(target, other);
    }
  }
  count(ctx, `partition:${kind}`);
  await sleep(ctx.rng.between(ctx.electionTimeoutMs * 2, ctx.electionTimeoutMs * 6));
  await ctx.network.heal();
  ctx.log('partition healed');
}

async function pickVictim(ctx: NemesisContext): Promise<ChaosMember | null> {
  const running = ctx.set.running();
  if (running.length === 0) return null;
  if (ctx.rng.below(2) === 0) {
    const leader = await findLeader(ctx.set);
    if (leader) return leader;
  }
  return ctx.rng.pick(running);
}

async function kill(ctx: NemesisContext): Promise<void> {
  const victim = await pickVictim(ctx);
  if (!victim) return;
  ctx.log(`kill -9 ${victim.name}`);
  await ctx.set.kill9(victim);
  count(ctx, 'kill');
  await sleep(ctx.rng.between(500, ctx.electionTimeoutMs * 4));
  ctx.set.start(victim);
  ctx.log(`restarted ${victim.name}`);
}

async function pause(ctx: NemesisContext): Promise<void> {
  const victim = await pickVictim(ctx);
  if (!victim) return;
  const ms = ctx.rng.between(Math.round(ctx.electionTimeoutMs * 1.5), ctx.electionTimeoutMs * 4);
  ctx.log(`SIGSTOP ${victim.name} for ${ms} ms`);
  ctx.set.pause(victim);
  count(ctx, 'pause');
  await sleep(ms);
  ctx.set.resume(victim);
  ctx.log(`SIGCONT ${victim.name}`);
}

async function disk(ctx: NemesisContext): Promise<void> {
  const m = ctx.set.members.find((x) => x.onTmpfs);
  if (!m) return;
  // Counted from before the fill: a member restarting right then may refuse to start at once.
  const exitsBefore = ctx.set.unexpectedExits().length;
  const filler = ctx.set.fillDisk(m);
  ctx.log(`disk full on ${m.name} (${ctx.set.freeBytes(m)} bytes free)`);
  count(ctx, 'disk');
  const started = Date.now();
  const holdMs = ctx.rng.between(ctx.electionTimeoutMs * 3, ctx.electionTimeoutMs * 6);
  // Ask for leadership to move to the full member so that the probe below meets the path
  // that must refuse (a full follower only redirects); the transfer may rightly fail.
  const leader = await findLeader(ctx.set);
  if (leader && leader !== m && !ctx.removed.has(m.name)) await post(`${ctx.set.clientUrl(leader.index)}/v1/leader/transfer`, { to: m.name });
  await sleep(ctx.electionTimeoutMs);
  const status = await fetchStatus(ctx.set.clientUrl(m.index));
  const episode: DiskEpisode = { member: m.name, role: status?.role ?? 'unreachable', probeStatus: 0, probeMessage: '', probeAccepted: 0, exits: [], recoveredMs: -1 };
  ctx.diskEpisodes.push(episode);
  const probeUntil = Date.now() + PROBE_DEADLINE_MS;
  for (let i = 0; i < MAX_PROBE_WRITES && Date.now() < probeUntil; i++) {
    // Incompressible, like real data: RocksDB compresses what it flushes, so a repeated byte would barely use the disk.
    const value = randomBytes((PROBE_VALUE_BYTES * 3) / 4).toString('base64');
    const probe = await probeWrite(`${ctx.set.clientUrl(m.index)}/v1/kv/chaos-disk-probe-${i % 8}`, value);
    episode.probeStatus = probe.status;
    episode.probeMessage = probe.message;
    if (probe.status < 200 || probe.status >= 300) break;
    episode.probeAccepted++;
  }
  ctx.log(`disk full on ${m.name} (${episode.role}, ${ctx.set.freeBytes(m)} bytes free now): ${episode.probeAccepted} probe writes of ${PROBE_VALUE_BYTES / 1024} KiB accepted, then HTTP ${episode.probeStatus} ${episode.probeMessage}`);
  await sleep(Math.max(0, holdMs - (Date.now() - started)));
  ctx.set.freeDisk(m, filler);
  episode.exits = ctx.set.unexpectedExits().slice(exitsBefore).filter((e) => e.member === m.name);
  ctx.log(`disk space returned on ${m.name}${episode.exits.length > 0 ? ` (it exited ${episode.exits.length}× while full)` : ''}`);
  const freedAt = Date.now();
  while (Date.now() - freedAt < DISK_RECOVERY_TIMEOUT_MS) {
    const lead = await findLeader(ctx.set);
    const [own, leaderStatus] = await Promise.all([fetchStatus(ctx.set.clientUrl(m.index)), lead ? fetchStatus(ctx.set.clientUrl(lead.index)) : null]);
    if (own && leaderStatus && own.appliedIndex >= leaderStatus.commitIndex) {
      episode.recoveredMs = Date.now() - freedAt;
      break;
    }
    await sleep(100);
  }
  ctx.log(`${m.name} ${episode.recoveredMs >= 0 ? `caught up ${episode.recoveredMs} ms after space returned` : `NOT caught up within ${DISK_RECOVERY_TIMEOUT_MS} ms`}`);
}

/**
 * A member that stopped because its disk was full, in the one acceptable way: it was starting up
 * (RocksDB must write to open), the disk was full, and it said so on its way out. A member that
 * was already serving must never exit over a full disk: it refuses writes and waits.
 */
export function isFullDiskStartRefusal(e: UnexpectedExit): boolean {
  return e.diskFull && e.duringStartup && e.code === 1 && /no space left/i.test(e.logTail);
}

/**
 * A full disk must make the member refuse writes with a clear error (507 NO_SPACE, or a redirect
 * / 503 with a JSON message when it is not leader), keep the process alive, and catch up once
 * space returns. 2xx answers before the refusal are fine (RocksDB writes into WAL space it
 * preallocated); whether acknowledged writes survived is judged by the durability check.
 */
export function checkDiskFull(episodes: readonly DiskEpisode[]): { name: string; ok: boolean; detail: string } {
  const name = 'full disk: clear refusal, no crash, recovery';
  if (episodes.length === 0) return { name, ok: true, detail: 'no disk episode in this run' };
  const answeredClearly = (e: DiskEpisode): boolean =>
    (e.probeStatus >= 200 && e.probeStatus < 300) || e.probeStatus === 307 ||
    ((e.probeStatus === 507 || e.probeStatus === 503) && !e.probeMessage.startsWith('non-JSON'));
  // No answer is acceptable only while the member is down because it could not start on the full disk.
  const downForGoodReason = (e: DiskEpisode): boolean => e.probeStatus === 0 && e.exits.length > 0 && e.exits.every(isFullDiskStartRefusal);
  const bad = episodes.filter((e) => e.recoveredMs < 0 || !e.exits.every(isFullDiskStartRefusal) || !(answeredClearly(e) || downForGoodReason(e)));
  const seen = episodes.map((e) => {
    const answer = e.probeStatus === 0 ? 'no answer' : `${e.probeStatus}${e.probeStatus >= 300 ? ` ${e.probeMessage.split(' ')[0] ?? ''}` : ''}`;
    const exits = e.exits.length > 0 ? `, ${e.exits.length} exit(s)${e.exits.every(isFullDiskStartRefusal) ? ' refusing to start on the full disk' : ' CRASHED'}` : '';
    return `${e.member}/${e.role}: ${e.probeAccepted} ok then ${answer}${exits}, back in ${e.recoveredMs} ms`;
  }).join('; ');
  return { name, ok: bad.length === 0, detail: `${episodes.length} episodes: ${seen}` };
}

/** No member may exit on its own, except refusing to start on a full disk (restarted like a kubelet would). */
export function checkNoCrash(exits: readonly UnexpectedExit[]): { name: string; ok: boolean; detail: string } {
  const name = 'no member crashed';
  const crashes = exits.filter((e) => !isFullDiskStartRefusal(e));
  const refusals = exits.length - crashes.length;
  if (crashes.length === 0) return { name, ok: true, detail: exits.length === 0 ? 'no unexpected exit' : `${refusals} start(s) refused on a full disk, restarted` };
  const first = crashes[0];
  const lastLine = first ? first.logTail.trim().split('\n').slice(-1)[0]?.slice(0, 200) ?? '' : '';
  return { name, ok: false, detail: `${crashes.length} crash(es): ${crashes.map((e) => `${e.member} code=${e.code} signal=${e.signal}`).join(', ')}; first said: ${lastLine}` };
}

async function transfer(ctx: NemesisContext): Promise<void> {
  const leader = await findLeader(ctx.set);
  if (!leader) return;
  const others = ctx.set.running().filter((m) => m !== leader && !ctx.removed.has(m.name));
  const to = others.length > 0 && ctx.rng.below(2) === 0 ? ctx.rng.pick(others).name : undefined;
  const status = await post(`${ctx.set.clientUrl(leader.index)}/v1/leader/transfer`, to ? { to } : {});
  ctx.log(`leader transfer from ${leader.name} to ${to ?? '(any)'}: HTTP ${status}`);
  count(ctx, 'transfer');
}

/** Removes a follower, wipes it, re-adds it as a learner and promotes it once caught up. */
async function membership(ctx: NemesisContext): Promise<void> {
  const leader = await findLeader(ctx.set);
  if (!leader) return;
  const candidates = ctx.set.members.filter((m) => m !== leader && !m.onTmpfs && !ctx.removed.has(m.name));
  if (candidates.length === 0) return;
  const m = ctx.rng.pick(candidates);
  const base = ctx.set.clientUrl(leader.index);
  const del = await post(`${base}/v1/members/${m.name}`, undefined, 'DELETE');
  ctx.log(`membership: remove ${m.name}: HTTP ${del}`);
  // A remove that timed out (503, no answer) may have taken effect: then the member is out of
  // the configuration and must be re-added like any removed one.
  if (del !== 200) {
    await sleep(ctx.electionTimeoutMs);
    const lead = await findLeader(ctx.set);
    if (!lead || (await listedOn(ctx.set.clientUrl(lead.index), m.name)) !== 'absent') return;
    ctx.log(`membership: ${m.name} was removed after all`);
  }
  count(ctx, 'membership:remove');
  await wipeAndRejoin(ctx, m);
}

/** `m` is out of the configuration: kill it, wipe its data, start it as a joiner and re-add it. */
export async function wipeAndRejoin(ctx: NemesisContext, m: ChaosMember, deadlineMs = 20_000): Promise<boolean> {
  ctx.removed.add(m.name);
  await ctx.set.kill9(m);
  ctx.set.wipe(m);
  m.joining = true;
  ctx.set.start(m);
  return rejoin(ctx, m, deadlineMs);
}

/**
 * Members the leader's configuration lacks although the harness never saw them removed: a remove
 * that timed out (no answer) and was judged not applied may still commit later, under a new
 * leader. Bounded: one status read.
 */
export async function absentFromConfiguration(ctx: NemesisContext): Promise<ChaosMember[]> {
  const leader = await findLeader(ctx.set);
  if (!leader) return [];
  const st = await fetchStatus(ctx.set.clientUrl(leader.index));
  if (!st) return [];
  return ctx.set.members.filter((m) => !ctx.removed.has(m.name) && !st.members.some((x) => x.name === m.name));
}

/** How the member at `base` lists `name` in its configuration. */
async function listedOn(base: string, name: string): Promise<'voter' | 'learner' | 'absent' | 'unknown'> {
  const st = await fetchStatus(base);
  if (!st) return 'unknown';
  const found = st.members.find((x) => x.name === name);
  return found ? (found.voter ? 'voter' : 'learner') : 'absent';
}

/** Adds `m` back as a learner and promotes it (bounded retries); leaves it in `removed` on failure. */
export async function rejoin(ctx: NemesisContext, m: ChaosMember, deadlineMs = 20_000): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  let added = false;
  while (Date.now() < until) {
    const leader = await findLeader(ctx.set);
    if (!leader || leader === m) {
      await sleep(200);
      continue;
    }
    const base = ctx.set.clientUrl(leader.index);
    if (!added) {
      const s = await post(`${base}/v1/members`, { name: m.name, peerUrl: ctx.set.peerAddress(m.index), clientUrl: ctx.set.clientUrl(m.index) });
      ctx.log(`membership: add learner ${m.name}: HTTP ${s}`);
      if (s === 200) {
        added = true;
        count(ctx, 'membership:add-learner');
      } else if (s === 409 && (await listedOn(base, m.name)) === 'learner') {
        // An earlier add timed out (503) yet took effect. (Listed as a voter instead means the
        // leader has not applied the removal yet: retry until it has.)
        ctx.log(`membership: ${m.name} is already a learner`);
        added = true;
      } else {
        await sleep(300);
        continue;
      }
    }
    const p = await post(`${base}/v1/members/${m.name}/promote`, {});
    // A promote that timed out may have taken effect too.
    if (p === 200 || (p !== 0 && p >= 400 && (await listedOn(base, m.name)) === 'voter')) {
      ctx.log(`membership: promoted ${m.name}`);
      count(ctx, 'membership:promote');
      ctx.removed.delete(m.name);
      return true;
    }
    await sleep(300);
  }
  ctx.log(`membership: ${m.name} not back as a voter within ${deadlineMs} ms`);
  return false;
}

const IMPLEMENTATIONS: Record<NemesisName, (ctx: NemesisContext) => Promise<void>> = { partition, kill, pause, disk, membership, transfer };

/** Runs nemeses from `enabled`, chosen by the seed, until `untilMs` (epoch ms). */
export async function runSchedule(ctx: NemesisContext, enabled: readonly NemesisName[], untilMs: number): Promise<void> {
  if (enabled.length === 0) {
    await sleep(Math.max(0, untilMs - Date.now()));
    return;
  }
  while (Date.now() < untilMs) {
    const name = ctx.rng.pick(enabled);
    // A membership change overlapping another fault exercises changes "during faults".
    if (name === 'membership' && enabled.length > 1 && ctx.rng.below(2) === 0) {
      const other = ctx.rng.pick(enabled.filter((n) => n !== 'membership'));
      ctx.log(`overlapping membership change with ${other}`);
      await Promise.all([IMPLEMENTATIONS.membership(ctx), IMPLEMENTATIONS[other](ctx)]);
    } else {
      await IMPLEMENTATIONS[name](ctx);
    }
    await sleep(ctx.rng.between(300, 1500));
  }
}
