// Runs one raftctl command. Exit codes: 0 success, 1 failure (one line on stderr), 2 bad usage
// (message and usage on stderr). Output goes through `io` so tests can capture it.
import { readFile, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { USAGE, UsageError, parseArgs } from './args.js';
import type { Command, GlobalOptions } from './args.js';
import { CliError, RaftkvClient, errorLine } from './client.js';
import { WriteSession } from './session.js';
import { HttpRequester } from './http-request.js';
import type { ClientTls } from './http-request.js';
import { BackupFormatError, BackupStreamVerifier } from '../server/backup-file.js';
import { SNAPSHOT_PART_RE, planPrune, snapshotNames, sortSnapshots, stalePartFiles } from './snapshot-dir.js';
import { renderStatusTable } from './status-table.js';
import { MAX_TOKEN_FILE_BYTES, TokenFileUnusable, tokenFromFileText } from './token-file.js';
import type { MemberRow, StatusBody } from './status-table.js';

/** Where raftctl reads and writes. */
export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Largest value or txn file read from stdin or disk. */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;
/** Watch: reconnects after a dropped stream before giving up. */
const MAX_WATCH_RECONNECTS = 20;

function kvPath(key: string): string {
  if (key === '') throw new UsageError('KEY must not be empty');
  return `/v1/kv/${encodeURIComponent(key)}`;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    size += b.length;
    if (size > MAX_INPUT_BYTES) throw new CliError(`input larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function line(out: Writable, text: string): void {
  out.write(`${text}\n`);
}

/** A value printed to a terminal: UTF-8 text as is, anything else as base64 (marked). */
function printable(b: Buffer): string {
  const s = b.toString('utf8');
  // eslint-disable-next-line no-control-regex
  if (Buffer.from(s, 'utf8').equals(b) && !/[\u0000-\u0008\u000e-\u001f]/.test(s)) return s;
  return `base64:${b.toString('base64')}`;
}

interface MembersBody {
  readonly members: readonly { readonly name: string; readonly peerUrl: string; readonly clientUrl: string; readonly voter: boolean }[];
}

function reason(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? err.cause.message : err.message;
  return String(err);
}

async function status(client: RaftkvClient, io: CliIo): Promise<number> {
  // Ask every given endpoint, learn the membership from the answers, then ask each member the
  // endpoints did not cover at its advertised client URL. Rows are keyed by member name, so a
  // member whose client URL the others do not know yet is still shown if it is an endpoint.
  const byName = new Map<string, { status: StatusBody; url: string }>();
  const endpointErrors: string[] = [];
  await Promise.all(client.endpoints.map(async (e) => {
    try {
      const s = await client.getFrom<StatusBody>(e, '/v1/status');
      byName.set(s.name, { status: s, url: e });
    } catch (err) {
      endpointErrors.push(`${e}: ${reason(err)}`);
    }
  }));
  if (byName.size === 0) throw new CliError(`status: no endpoint answered (${endpointErrors.join('; ')})`);
  const members = new Map<string, { clientUrl: string; voter: boolean }>();
  for (const { status: s } of byName.values()) {
    for (const m of s.members ?? []) {
      const known = members.get(m.name);
      if (!known || (known.clientUrl === '' && m.clientUrl !== '')) members.set(m.name, { clientUrl: m.clientUrl, voter: m.voter });
    }
  }
  for (const [name, a] of byName) if (!members.has(name)) members.set(name, { clientUrl: a.url, voter: true });
  const rows: MemberRow[] = await Promise.all([...members].map(async ([name, m]): Promise<MemberRow> => {
    const seen = byName.get(name);
    const clientUrl = m.clientUrl !== '' ? m.clientUrl : (seen?.url ?? '');
    if (seen) return { name, clientUrl, voter: m.voter, status: seen.status, error: null };
    if (clientUrl === '') return { name, clientUrl: '', voter: m.voter, status: null, error: 'client URL unknown' };
    try {
      const s = await client.getFrom<StatusBody>(clientUrl, '/v1/status');
      return { name, clientUrl, voter: m.voter, status: s, error: null };
    } catch (err) {
      return { name, clientUrl, voter: m.voter, status: null, error: reason(err) };
    }
  }));
  io.stdout.write(renderStatusTable(rows));
  return rows.every((r) => r.status !== null) ? 0 : 1;
}

async function watch(client: RaftkvClient, io: CliIo, prefix: string, fromRevision: number | null): Promise<number> {
  let next = fromRevision;
  for (let attempt = 0; attempt <= MAX_WATCH_RECONNECTS; attempt++) {
    const endpoint = client.endpoints[attempt % client.endpoints.length] as string;
    const q = new URLSearchParams({ prefix });
    if (next !== null) q.set('fromRevision', String(next));
    let res;
    try {
      res = await client.requester.stream(`${endpoint}/v1/watch?${q.toString()}`, { method: 'GET', headers: client.headersWith(undefined), timeoutMs: client.requestTimeoutMs });
      // Connected: a quiet watch may wait for events far longer than a request timeout.
      res.stream.socket.setTimeout(0);
    } catch (err) {
      line(io.stderr, `raftctl: watch: ${endpoint}: ${err instanceof Error ? err.message : String(err)}; retrying`);
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    if (res.status !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res.stream) chunks.push(c as Buffer);
      throw new CliError(`watch: ${errorLine(res.status, Buffer.concat(chunks))}`, res.status);
    }
    let buf = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.stream) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!l.startsWith('data: ')) continue;
        const ev = JSON.parse(l.slice(6)) as { type: string; key: string; value: string; revision: number };
        const value = ev.type === 'delete' ? '' : ` ${printable(Buffer.from(ev.value, 'base64'))}`;
        line(io.stdout, `${ev.revision} ${ev.type.toUpperCase()} ${ev.key}${value}`);
        next = ev.revision + 1;
      }
    }
    line(io.stderr, 'raftctl: watch: stream ended; reconnecting');
  }
  throw new CliError(`watch: gave up after ${MAX_WATCH_RECONNECTS} reconnects`);
}

/** Where a backup streams to and where it lands, decided once the member's headers are in. */
interface SaveTarget {
  readonly part: string;
  readonly final: string;
}

/** A backup written under its final name. */
interface SavedBackup {
  readonly endpoint: string;
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly index: string;
  readonly revision: string;
  readonly ms: number;
}

/** fsync a directory so a rename in it survives a crash (the file's own fsync does not cover it). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Streams GET /v1/snapshot from the first endpoint that answers into the target's temp name,
 * verifying the SHA-256 trailer as it arrives, fsyncs it, renames it to the final name and fsyncs
 * the directory. A damaged or cut stream leaves no file under the final name (the temp file is removed).
 */
async function downloadBackup(client: RaftkvClient, serializable: boolean, targetOf: (headers: Headers) => SaveTarget): Promise<SavedBackup> {
  const path = `/v1/snapshot${serializable ? '?consistency=serializable' : ''}`;
  const failures: string[] = [];
  for (const endpoint of client.endpoints) {
    let res;
    try {
      res = await client.requester.stream(endpoint + path, { method: 'GET', headers: client.headersWith(undefined), timeoutMs: client.requestTimeoutMs });
    } catch (err) {
      failures.push(`${endpoint}: ${reason(err)}`);
      continue;
    }
    if (res.status !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res.stream) chunks.push(c as Buffer);
      const msg = errorLine(res.status, Buffer.concat(chunks));
      // Credentials and bad requests will not get better at another member.
      if (res.status === 401 || res.status === 403 || res.status === 400 || client.endpoints.length === 1) throw new CliError(`snapshot save: ${msg}`, res.status);
      failures.push(`${endpoint}: ${msg}`);
      continue;
    }
    const t0 = performance.now();
    let target: SaveTarget;
    try {
      target = targetOf(res.headers);
    } catch (err) {
      res.stream.destroy();
      throw err;
    }
    const verifier = new BackupStreamVerifier();
    const fh = await open(target.part, 'w');
    try {
      for await (const c of res.stream) {
        const b = c as Buffer;
        verifier.push(b);
        await fh.write(b);
      }
      const digest = verifier.finish();
      const announced = res.headers.get('x-raftkv-backup-sha256');
      if (announced !== null && announced !== digest) throw new BackupFormatError('checksum differs from the one the member announced');
      await fh.sync();
      await fh.close();
      await rename(target.part, target.final);
      await syncDir(dirname(target.final));
      return {
        endpoint, file: target.final, bytes: verifier.bytes, sha256: digest, ms: Math.round(performance.now() - t0),
        index: res.headers.get('x-raftkv-backup-index') ?? '?', revision: res.headers.get('x-raftkv-backup-revision') ?? '?',
      };
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(target.part, { force: true });
      throw new CliError(`snapshot save: ${reason(err)}`);
    }
  }
  throw new CliError(`snapshot save: no endpoint answered (${failures.join('; ')})`);
}

function savedLine(s: SavedBackup): string {
  return `saved ${s.file}: member=${s.endpoint} index=${s.index} revision=${s.revision} bytes=${s.bytes} sha256=${s.sha256} ms=${s.ms}`;
}

/** `snapshot save FILE`: the backup lands at FILE (via FILE.part). */
async function snapshotSave(client: RaftkvClient, io: CliIo, file: string, serializable: boolean): Promise<number> {
  const saved = await downloadBackup(client, serializable, () => ({ part: `${file}.part`, final: file }));
  line(io.stdout, savedLine(saved));
  return 0;
}

/**
 * `snapshot save --dir DIR [--keep N]`: a timestamped backup in DIR (snapshot-dir.ts names it),
 * then — only after it is safely in place — the oldest backups beyond N and stale temp files of
 * dead runs are deleted. Files that do not match raftctl's own patterns are never touched.
 */
async function snapshotSaveDir(client: RaftkvClient, io: CliIo, dir: string, keep: number | null, serializable: boolean): Promise<number> {
  // A missing directory usually means the backup volume is not mounted: writing into the
  // container's own filesystem instead would lose the backup silently.
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw new CliError(`snapshot save: --dir ${dir}: ${reason(err)}`);
  }
  if (!isDir) throw new CliError(`snapshot save: --dir ${dir} is not a directory`);
  const takenAtMs = Date.now();
  const saved = await downloadBackup(client, serializable, (headers) => {
    const revText = headers.get('x-raftkv-backup-revision') ?? '';
    if (!/^[0-9]{1,16}$/.test(revText)) throw new CliError(`snapshot save: the member sent no usable X-Raftkv-Backup-Revision (${JSON.stringify(revText)})`);
    const names = snapshotNames(takenAtMs, Number(revText));
    return { part: join(dir, names.part), final: join(dir, names.final) };
  });
  line(io.stdout, savedLine(saved));
  if (keep === null) return 0;
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => e.name);
  const doomed = planPrune(files, keep);
  const parts = await Promise.all(files.filter((n) => SNAPSHOT_PART_RE.test(n)).map(async (name) => ({ name, mtimeMs: (await stat(join(dir, name))).mtimeMs })));
  const stale = stalePartFiles(parts, Date.now());
  for (const name of [...doomed, ...stale]) await rm(join(dir, name), { force: true });
  if (doomed.length + stale.length > 0) await syncDir(dir);
  line(io.stdout, `kept ${sortSnapshots(files).length - doomed.length} backup(s) in ${dir}; deleted ${doomed.length}${doomed.length > 0 ? ` (${doomed.join(', ')})` : ''}${stale.length > 0 ? `; removed ${stale.length} stale temp file(s)` : ''}`);
  return 0;
}

async function readPem(path: string | null, what: string): Promise<Buffer | undefined> {
  if (path === null) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${reason(err)}`);
  }
}

/** raftctl's --cacert/--cert/--key for the bench's own connections, or null when none is given. */
async function benchTls(options: GlobalOptions): Promise<{ ca?: Buffer; cert?: Buffer; key?: Buffer } | null> {
  const ca = await readPem(options.tls.caFile, '--cacert');
  const cert = await readPem(options.tls.certFile, '--cert');
  const key = await readPem(options.tls.keyFile, '--key');
  if (!ca && !cert && !key) return null;
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** Resolves --token-file into the token (read once, bounded); errors never include a token. */
async function withTokenFromFile(options: GlobalOptions): Promise<GlobalOptions> {
  if (options.tokenFile === null) return options;
  let text: string;
  try {
    const st = await stat(options.tokenFile);
    if (st.size > MAX_TOKEN_FILE_BYTES) throw new CliError(`--token-file ${options.tokenFile} is larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
    text = await readFile(options.tokenFile, 'utf8');
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read --token-file ${options.tokenFile}: ${reason(err)}`);
  }
  try {
    return { ...options, token: tokenFromFileText(text, `--token-file ${options.tokenFile}`), tokenFile: null };
  } catch (err) {
    if (err instanceof TokenFileUnusable) throw new CliError(err.message);
    throw err;
  }
}

async function execute(cmd: Command, given: GlobalOptions, io: CliIo): Promise<number> {
  const options = await withTokenFromFile(given);
  const ca = await readPem(options.tls.caFile, '--cacert');
  const cert = await readPem(options.tls.certFile, '--cert');
  const key = await readPem(options.tls.keyFile, '--key');
  const tls: ClientTls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  const requester = new HttpRequester(tls);
  const client = new RaftkvClient(options.endpoints, options.timeoutMs, { requester, ...(options.token !== null ? { token: options.token } : {}) });
  // One session per process: its writes are applied at most once however often they are resent.
  const session = new WriteSession(client);
  try {
    return await executeWith(client, session, cmd, options, io);
  } finally {
    await session.close();
    requester.close();
  }
}

async function executeWith(client: RaftkvClient, session: WriteSession, cmd: Command, options: GlobalOptions, io: CliIo): Promise<number> {
  const jsonHeaders = { 'content-type': 'application/json' };
  switch (cmd.kind) {
    case 'help':
      line(io.stdout, USAGE);
      return 0;
    case 'bench': {
      const argv = [...cmd.argv];
      const first = options.endpoints[0];
      // The whole URL: its scheme tells the bench whether to speak TLS.
      if (options.endpointsGiven && first !== undefined && !argv.some((a) => a.startsWith('--endpoint'))) argv.unshift('--endpoint', first);
      const bench = await import('./bench/index.js');
      return bench.runBench(argv, { token: options.token, tls: await benchTls(options) });
    }
    case 'put': {
      const value = cmd.value === '-' ? await readAll(io.stdin) : Buffer.from(cmd.value, 'utf8');
      const r = await client.json<{ revision: number; term: number; index: number }>({ method: 'PUT', path: kvPath(cmd.key), body: value, headers: { ...(await session.nextWrite(`put ${cmd.key}`)), 'content-type': 'application/octet-stream' } }, `put ${cmd.key}`);
      line(io.stdout, `OK revision=${r.revision} term=${r.term} index=${r.index}`);
      return 0;
    }
    case 'get': {
      const res = await client.request({ method: 'GET', path: kvPath(cmd.key) + (cmd.serializable ? '?consistency=serializable' : '') });
      if (res.status === 404) throw new CliError(`get ${cmd.key}: key not found`, 404);
      if (res.status !== 200) throw new CliError(`get ${cmd.key}: ${errorLine(res.status, res.body)}`, res.status);
      io.stdout.write(res.body);
      if ((io.stdout as { isTTY?: boolean }).isTTY === true) io.stdout.write('\n');
      return 0;
    }
    case 'del': {
      const r = await client.json<{ deleted: boolean; revision: number }>({ method: 'DELETE', path: kvPath(cmd.key), headers: await session.nextWrite(`del ${cmd.key}`) }, `del ${cmd.key}`);
      line(io.stdout, r.deleted ? `deleted revision=${r.revision}` : 'not found (nothing deleted)');
      return 0;
    }
    case 'list': {
      const q = new URLSearchParams({ prefix: cmd.prefix });
      if (cmd.limit !== null) q.set('limit', String(cmd.limit));
      const r = await client.json<{ kvs: { key: string; value: string; modRevision: number }[]; more: boolean; revision: number }>({ method: 'GET', path: `/v1/kv?${q.toString()}` }, `list ${cmd.prefix}`);
      for (const kv of r.kvs) line(io.stdout, `${kv.key}\t${printable(Buffer.from(kv.value, 'base64'))}`);
      if (r.more) line(io.stderr, `(more keys under '${cmd.prefix}'; raise --limit)`);
      return 0;
    }
    case 'watch':
      return watch(client, io, cmd.prefix, cmd.fromRevision);
    case 'status':
      return status(client, io);
    case 'members-list': {
      const r = await client.json<MembersBody>({ method: 'GET', path: '/v1/members' }, 'members list');
      const rows = [['NAME', 'VOTER', 'PEER', 'CLIENT-URL'], ...r.members.map((m) => [m.name, m.voter ? 'voter' : 'learner', m.peerUrl, m.clientUrl])];
      const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
      for (const row of rows) line(io.stdout, row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
      return 0;
    }
    case 'members-add':
      await client.ok({ method: 'POST', path: '/v1/members', body: JSON.stringify({ name: cmd.name, peerUrl: cmd.peerUrl, clientUrl: cmd.clientUrl }), headers: jsonHeaders }, `members add ${cmd.name}`);
      line(io.stdout, `added ${cmd.name} as a learner; promote it once it has caught up`);
      return 0;
    case 'members-promote':
      await client.ok({ method: 'POST', path: `/v1/members/${encodeURIComponent(cmd.name)}/promote` }, `members promote ${cmd.name}`);
      line(io.stdout, `promoted ${cmd.name} to voter`);
      return 0;
    case 'members-remove':
      await client.ok({ method: 'DELETE', path: `/v1/members/${encodeURIComponent(cmd.name)}` }, `members remove ${cmd.name}`);
      line(io.stdout, `removed ${cmd.name}`);
      return 0;
    case 'leader-transfer': {
      const r = await client.json<{ leader: string }>({ method: 'POST', path: '/v1/leader/transfer', body: JSON.stringify(cmd.to === null ? {} : { to: cmd.to }), headers: jsonHeaders }, 'leader transfer');
      line(io.stdout, `leader is now ${r.leader}`);
      return 0;
    }
    case 'snapshot': {
      const r = await client.json<{ index: number }>({ method: 'POST', path: '/v1/snapshot' }, 'snapshot');
      line(io.stdout, `snapshot at index ${r.index}`);
      return 0;
    }
    case 'snapshot-save':
      return snapshotSave(client, io, cmd.file, cmd.serializable);
    case 'snapshot-save-dir':
      return snapshotSaveDir(client, io, cmd.dir, cmd.keep, cmd.serializable);
    case 'lock-acquire': {
      const r = await client.json<{ token: number; owner: string }>({ method: 'POST', path: `/v1/locks/${encodeURIComponent(cmd.name)}`, body: JSON.stringify({ owner: cmd.owner, ttlMs: cmd.ttlMs }), headers: { ...(await session.nextWrite(`lock acquire ${cmd.name}`)), ...jsonHeaders } }, `lock acquire ${cmd.name}`);
      line(io.stdout, `token=${r.token} owner=${r.owner} fencing-token=${cmd.name}:${r.token}`);
      return 0;
    }
    case 'lock-release':
      await client.ok({ method: 'DELETE', path: `/v1/locks/${encodeURIComponent(cmd.name)}?token=${cmd.token}`, headers: await session.nextWrite(`lock release ${cmd.name}`) }, `lock release ${cmd.name}`);
      line(io.stdout, `released ${cmd.name}`);
      return 0;
    case 'txn': {
      let body: Buffer;
      try {
        body = cmd.file === '-' ? await readAll(io.stdin) : await readFile(cmd.file);
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError(`txn: cannot read ${cmd.file}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (body.length > MAX_INPUT_BYTES) throw new CliError(`txn: ${cmd.file} is larger than ${MAX_INPUT_BYTES} bytes`);
      const res = await client.ok({ method: 'POST', path: '/v1/txn', body, headers: { ...(await session.nextWrite('txn')), ...jsonHeaders } }, 'txn');
      line(io.stdout, res.body.toString('utf8'));
      return 0;
    }
  }
}

/** Parses and runs one raftctl invocation; resolves with the exit code. Never rejects. */
export async function runRaftctl(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv, io.env);
  } catch (err) {
    if (err instanceof UsageError) {
      line(io.stderr, `raftctl: ${err.message}`);
      line(io.stderr, USAGE);
      return 2;
    }
    line(io.stderr, `raftctl: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  try {
    return await execute(parsed.command, parsed.options, io);
  } catch (err) {
    if (err instanceof UsageError) {
      line(io.stderr, `raftctl: ${err.message}`);
      line(io.stderr, USAGE);
      return 2;
    }
    line(io.stderr, `raftctl: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
