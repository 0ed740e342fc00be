// Runs one raftctl command. Exit codes: 0 success, 1 failure (one line on stderr), 2 bad usage
// (the message and the command's short usage on stderr). Output goes through `io` so tests can
// capture it; every command prints in the format -w asks for (simple, json or table).
import { readFile, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { UsageError, parseArgs } from './args.js';
import type { Command, GlobalOptions, OutputFormat } from './args.js';
import { CliError, RaftkvClient, authHint, errorLine, idempotencyHeader } from './client.js';
import { completionScript } from './completion.js';
import { WriteSession } from './session.js';
import { commandHelp, commandHelpText, globalHelp, shortUsage } from './help.js';
import { jsonValue, printable, renderTable, writeJson } from './output.js';
import { RAFTKV_VERSION } from '../version.js';
import { HttpRequester } from './http-request.js';
import type { ClientTls, StreamedResponse } from './http-request.js';
import { BackupFormatError, BackupStreamVerifier } from '../server/backup-file.js';
import { SNAPSHOT_PART_RE, planPrune, snapshotNames, sortSnapshots, stalePartFiles } from './snapshot-dir.js';
import { renderStatusTable, statusJson } from './status-table.js';
import { runSnapshotUrlCommand } from './snapshot-url.js';
import { openMemberBackup } from './member-backup.js';
import { syncDir } from '../backup/stores.js';
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

interface MembersBody {
  readonly members: readonly { readonly name: string; readonly peerUrl: string; readonly clientUrl: string; readonly voter: boolean }[];
}

function reason(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? err.cause.message : err.message;
  return String(err);
}

async function status(client: RaftkvClient, io: CliIo, output: OutputFormat): Promise<number> {
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
  if (byName.size === 0) throw new CliError(`status: no endpoint answered (${endpointErrors.join('; ')})${endpointErrors.some((e) => e.includes(': 401')) ? authHint(401, client.hasToken) : ''}`);
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
  if (output === 'json') writeJson(io.stdout, statusJson(rows));
  else io.stdout.write(renderStatusTable(rows));
  return rows.every((r) => r.status !== null) ? 0 : 1;
}

/** Watch: the wait before reconnecting after a failed connect or a dropped stream. */
const WATCH_RECONNECT_MS = 500;

interface WatchEvent {
  readonly type: string;
  readonly key: string;
  readonly value: string;
  readonly revision: number;
}

function printEvent(io: CliIo, ev: WatchEvent, output: OutputFormat): void {
  const bytes = Buffer.from(ev.value ?? '', 'base64');
  if (output === 'json') {
    writeJson(io.stdout, { type: ev.type, key: ev.key, revision: ev.revision, ...(ev.type === 'delete' ? {} : jsonValue(bytes)) });
    return;
  }
  const value = ev.type === 'delete' ? '' : printable(bytes);
  if (output === 'table') line(io.stdout, [String(ev.revision).padEnd(10), ev.type.toUpperCase().padEnd(6), ev.key, value].join('  ').trimEnd());
  else line(io.stdout, `${ev.revision} ${ev.type.toUpperCase()} ${ev.key}${ev.type === 'delete' ? '' : ` ${value}`}`);
}

async function watch(client: RaftkvClient, io: CliIo, prefix: string, fromRevision: number | null, output: OutputFormat): Promise<number> {
  let next = fromRevision;
  if (output === 'table') line(io.stdout, `${'REVISION'.padEnd(10)}  ${'TYPE'.padEnd(6)}  KEY  VALUE`);
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
      await new Promise((r) => setTimeout(r, WATCH_RECONNECT_MS));
      continue;
    }
    if (res.status !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res.stream) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      // Another member may serve it (this one is removed, overloaded or without a leader).
      if ((res.status === 503 || res.status === 429 || res.status === 410) && !body.includes('"GONE"') && attempt < MAX_WATCH_RECONNECTS) {
        line(io.stderr, `raftctl: watch: ${endpoint}: ${errorLine(res.status, body)}; retrying`);
        await new Promise((r) => setTimeout(r, WATCH_RECONNECT_MS));
        continue;
      }
      throw new CliError(`watch: ${errorLine(res.status, body)}${authHint(res.status, client.hasToken)}`, res.status);
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
        const ev = JSON.parse(l.slice(6)) as WatchEvent;
        if (typeof ev.revision !== 'number') continue;
        printEvent(io, ev, output);
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

/**
 * Streams GET /v1/snapshot from the first endpoint that serves it (retrying the endpoints with
 * backoff until --timeout while members have no leader or cannot be reached) into the target's
 * temp name, verifying the SHA-256 trailer as it arrives, fsyncs it, renames it to the final name and fsyncs
 * the directory. A damaged or cut stream leaves no file under the final name (the temp file is removed).
 */
async function downloadBackup(client: RaftkvClient, serializable: boolean, targetOf: (headers: Headers) => SaveTarget): Promise<SavedBackup> {
  const { endpoint, res } = await openMemberBackup(client, serializable);
  return saveStream(res, endpoint, targetOf);
}

/** Writes one member's backup stream: verified, fsynced, renamed into place. */
async function saveStream(res: StreamedResponse, endpoint: string, targetOf: (headers: Headers) => SaveTarget): Promise<SavedBackup> {
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

function savedLine(s: SavedBackup): string {
  return `saved ${s.file}: member=${s.endpoint} index=${s.index} revision=${s.revision} bytes=${s.bytes} sha256=${s.sha256} ms=${s.ms}`;
}

function savedJson(s: SavedBackup): Record<string, unknown> {
  const n = (t: string): number | null => (/^[0-9]{1,16}$/.test(t) ? Number(t) : null);
  return { file: s.file, member: s.endpoint, index: n(s.index), revision: n(s.revision), bytes: s.bytes, sha256: s.sha256, ms: s.ms };
}

function printSaved(io: CliIo, s: SavedBackup, output: OutputFormat, extra: Record<string, unknown> = {}): void {
  if (output === 'json') writeJson(io.stdout, { ...savedJson(s), ...extra });
  else if (output === 'table') io.stdout.write(renderTable(['FILE', 'MEMBER', 'INDEX', 'REVISION', 'BYTES', 'SHA256', 'MS'], [[s.file, s.endpoint, s.index, s.revision, String(s.bytes), s.sha256, String(s.ms)]]));
  else line(io.stdout, savedLine(s));
}

/** `snapshot save FILE`: the backup lands at FILE (via FILE.part). */
async function snapshotSave(client: RaftkvClient, io: CliIo, file: string, serializable: boolean, output: OutputFormat): Promise<number> {
  const saved = await downloadBackup(client, serializable, () => ({ part: `${file}.part`, final: file }));
  printSaved(io, saved, output);
  return 0;
}

/**
 * `snapshot save --dir DIR [--keep N]`: a timestamped backup in DIR (snapshot-dir.ts names it),
 * then — only after it is safely in place — the oldest backups beyond N and stale temp files of
 * dead runs are deleted. Files that do not match raftctl's own patterns are never touched.
 */
async function snapshotSaveDir(client: RaftkvClient, io: CliIo, dir: string, keep: number | null, serializable: boolean, output: OutputFormat): Promise<number> {
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
  if (keep === null) {
    printSaved(io, saved, output);
    return 0;
  }
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => e.name);
  const doomed = planPrune(files, keep);
  const parts = await Promise.all(files.filter((n) => SNAPSHOT_PART_RE.test(n)).map(async (name) => ({ name, mtimeMs: (await stat(join(dir, name))).mtimeMs })));
  const stale = stalePartFiles(parts, Date.now());
  for (const name of [...doomed, ...stale]) await rm(join(dir, name), { force: true });
  if (doomed.length + stale.length > 0) await syncDir(dir);
  const kept = sortSnapshots(files).length - doomed.length;
  if (output === 'json') {
    printSaved(io, saved, output, { kept, deleted: doomed, staleTempFilesRemoved: stale.length });
    return 0;
  }
  printSaved(io, saved, output);
  line(io.stdout, `kept ${kept} backup(s) in ${dir}; deleted ${doomed.length}${doomed.length > 0 ? ` (${doomed.join(', ')})` : ''}${stale.length > 0 ? `; removed ${stale.length} stale temp file(s)` : ''}`);
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

/**
 * A write the members apply at most once however often it is sent, so raftctl may resend it
 * after an unknown outcome: keyed (Idempotency-Key), or numbered in a client session (Session-Id).
 */
function appliedOnce(headers: Readonly<Record<string, string>>): boolean {
  return 'idempotency-key' in headers || 'session-id' in headers;
}

/**
 * What makes a write applied at most once: its Idempotency-Key when one is given (or --retry
 * makes one), else the next number in the process's client session (none when the members
 * offer no sessions). The members take one or the other, never both.
 */
async function onceHeaders(session: WriteSession, what: string, c: { idempotencyKey: string | null; retry: boolean }): Promise<Record<string, string>> {
  const keyed = idempotencyHeader(c.idempotencyKey, c.retry);
  return 'idempotency-key' in keyed ? keyed : { ...(await session.nextWrite(what)) };
}

/** Headers of a key write: its conditions. */
function keyWriteHeaders(c: { ifMatch: number | null; fencingToken: string | null }): Record<string, string> {
  return {
    ...(c.ifMatch !== null ? { 'if-match': String(c.ifMatch) } : {}),
    ...(c.fencingToken !== null ? { 'fencing-token': c.fencingToken } : {}),
  };
}

/** A write's answer, printed as -w asks: simple is `simple`, table one row of `fields`. */
function printWrite(io: CliIo, output: OutputFormat, body: Record<string, unknown>, simple: string): void {
  if (output === 'json') writeJson(io.stdout, body);
  else if (output === 'table') {
    const keys = Object.keys(body);
    io.stdout.write(renderTable(keys.map((k) => k.toUpperCase()), [keys.map((k) => String(body[k]))]));
  } else line(io.stdout, simple);
}

async function readTxnBody(file: string, io: CliIo): Promise<Buffer> {
  let body: Buffer;
  try {
    body = file === '-' ? await readAll(io.stdin) : await readFile(file);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`txn: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (body.length > MAX_INPUT_BYTES) throw new CliError(`txn: ${file} is larger than ${MAX_INPUT_BYTES} bytes`);
  return body;
}

interface TxnAnswer {
  readonly succeeded: boolean;
  readonly revision: number;
  readonly results: readonly {
    readonly type: string;
    readonly key?: string;
    readonly revision?: number;
    readonly deleted?: boolean;
    readonly kv?: { readonly key: string; readonly value: string; readonly modRevision: number } | null;
  }[];
}

async function executeWith(client: RaftkvClient, session: WriteSession, cmd: Command, options: GlobalOptions, io: CliIo): Promise<number> {
  const jsonHeaders = { 'content-type': 'application/json' };
  const out = options.output;
  switch (cmd.kind) {
    case 'help':
    case 'version':
    case 'completion':
      return printInfo(cmd, out, io);
    case 'bench': {
      const argv = [...cmd.argv];
      const first = options.endpoints[0];
      // The whole URL: its scheme tells the bench whether to speak TLS.
      if (options.endpointsGiven && first !== undefined && !argv.some((a) => a.startsWith('--endpoint'))) argv.unshift('--endpoint', first);
      if (out === 'json' && !argv.includes('--json')) argv.push('--json');
      const bench = await import('./bench/index.js');
      return bench.runBench(argv, { token: options.token, tls: await benchTls(options) });
    }
    case 'put': {
      const value = cmd.value === '-' ? await readAll(io.stdin) : Buffer.from(cmd.value, 'utf8');
      const headers = { ...(await onceHeaders(session, `put ${cmd.key}`, cmd)), 'content-type': 'application/octet-stream', ...keyWriteHeaders(cmd) };
      const r = await client.json<{ revision: number; term: number; index: number }>({ method: 'PUT', path: kvPath(cmd.key), body: value, headers, idempotent: appliedOnce(headers) }, `put ${cmd.key}`);
      printWrite(io, out, { key: cmd.key, revision: r.revision, term: r.term, index: r.index }, `OK revision=${r.revision} term=${r.term} index=${r.index}`);
      return 0;
    }
    case 'get': {
      const res = await client.requestFor({ method: 'GET', path: kvPath(cmd.key) + (cmd.serializable ? '?consistency=serializable' : '') }, `get ${cmd.key}`);
      if (res.status === 404) throw new CliError(`get ${cmd.key}: key not found`, 404);
      if (res.status !== 200) throw new CliError(`get ${cmd.key}: ${errorLine(res.status, res.body)}${authHint(res.status, client.hasToken)}`, res.status);
      const modRevision = Number(res.headers.get('x-revision'));
      const createRevision = Number(res.headers.get('x-create-revision'));
      if (out === 'json') writeJson(io.stdout, { key: cmd.key, ...jsonValue(res.body), modRevision, createRevision });
      else if (out === 'table') io.stdout.write(renderTable(['KEY', 'MOD-REVISION', 'CREATE-REVISION', 'VALUE'], [[cmd.key, String(modRevision), String(createRevision), printable(res.body)]]));
      else {
        // The value as stored, then a newline (as etcdctl): `$(raftctl get k)` strips it.
        io.stdout.write(res.body);
        io.stdout.write('\n');
      }
      return 0;
    }
    case 'del': {
      const headers = { ...(await onceHeaders(session, `del ${cmd.key}`, cmd)), ...keyWriteHeaders(cmd) };
      const r = await client.json<{ deleted: boolean; revision: number }>({ method: 'DELETE', path: kvPath(cmd.key), headers, idempotent: appliedOnce(headers) }, `del ${cmd.key}`);
      printWrite(io, out, { key: cmd.key, deleted: r.deleted, revision: r.revision }, r.deleted ? `deleted revision=${r.revision}` : 'not found (nothing deleted)');
      return 0;
    }
    case 'list': {
      const q = new URLSearchParams({ prefix: cmd.prefix });
      if (cmd.limit !== null) q.set('limit', String(cmd.limit));
      const r = await client.json<{ kvs: { key: string; value: string; modRevision: number; createRevision: number }[]; more: boolean; revision: number }>({ method: 'GET', path: `/v1/kv?${q.toString()}` }, `list ${cmd.prefix}`);
      const kvs = r.kvs.map((kv) => ({ key: kv.key, bytes: Buffer.from(kv.value, 'base64'), modRevision: kv.modRevision, createRevision: kv.createRevision }));
      if (out === 'json') writeJson(io.stdout, { kvs: kvs.map((kv) => ({ key: kv.key, ...jsonValue(kv.bytes), modRevision: kv.modRevision, createRevision: kv.createRevision })), more: r.more, revision: r.revision });
      else if (out === 'table') io.stdout.write(renderTable(['KEY', 'MOD-REVISION', 'VALUE'], kvs.map((kv) => [kv.key, String(kv.modRevision), printable(kv.bytes)])));
      else for (const kv of kvs) line(io.stdout, `${kv.key}\t${printable(kv.bytes)}`);
      if (r.more) line(io.stderr, `(more keys under '${cmd.prefix}'; raise --limit)`);
      return 0;
    }
    case 'watch':
      return watch(client, io, cmd.prefix, cmd.fromRevision, out);
    case 'status':
      return status(client, io, out);
    case 'members-list': {
      const r = await client.json<MembersBody>({ method: 'GET', path: '/v1/members' }, 'members list');
      if (out === 'json') writeJson(io.stdout, { members: r.members });
      else io.stdout.write(renderTable(['NAME', 'VOTER', 'PEER', 'CLIENT-URL'], r.members.map((m) => [m.name, m.voter ? 'voter' : 'learner', m.peerUrl, m.clientUrl])));
      return 0;
    }
    case 'members-add': {
      const res = await client.ok({ method: 'POST', path: '/v1/members', body: JSON.stringify({ name: cmd.name, peerUrl: cmd.peerUrl, clientUrl: cmd.clientUrl }), headers: jsonHeaders }, `members add ${cmd.name}`);
      printMembership(io, out, res, `added ${cmd.name} as a learner; promote it once it has caught up`);
      return 0;
    }
    case 'members-promote': {
      const res = await client.ok({ method: 'POST', path: `/v1/members/${encodeURIComponent(cmd.name)}/promote` }, `members promote ${cmd.name}`);
      printMembership(io, out, res, `promoted ${cmd.name} to voter`);
      return 0;
    }
    case 'members-remove': {
      const res = await client.ok({ method: 'DELETE', path: `/v1/members/${encodeURIComponent(cmd.name)}` }, `members remove ${cmd.name}`);
      printMembership(io, out, res, `removed ${cmd.name}`);
      return 0;
    }
    case 'leader-transfer': {
      const r = await client.json<{ leader: string; clientUrl: string | null }>({ method: 'POST', path: '/v1/leader/transfer', body: JSON.stringify(cmd.to === null ? {} : { to: cmd.to }), headers: jsonHeaders }, 'leader transfer');
      printWrite(io, out, { leader: r.leader, clientUrl: r.clientUrl ?? null }, `leader is now ${r.leader}`);
      return 0;
    }
    case 'snapshot': {
      const r = await client.json<{ index: number }>({ method: 'POST', path: '/v1/snapshot' }, 'snapshot');
      printWrite(io, out, { index: r.index }, `snapshot at index ${r.index}`);
      return 0;
    }
    case 'snapshot-save':
      return snapshotSave(client, io, cmd.file, cmd.serializable, out);
    case 'snapshot-save-dir':
      return snapshotSaveDir(client, io, cmd.dir, cmd.keep, cmd.serializable, out);
    case 'snapshot-url':
      return runSnapshotUrlCommand(client, cmd.action, io);
    case 'lock-acquire': {
      const headers = { ...(await onceHeaders(session, `lock acquire ${cmd.name}`, cmd)), ...jsonHeaders };
      const r = await client.json<{ token: number; owner: string }>({ method: 'POST', path: `/v1/locks/${encodeURIComponent(cmd.name)}`, body: JSON.stringify({ owner: cmd.owner, ttlMs: cmd.ttlMs }), headers, idempotent: appliedOnce(headers) }, `lock acquire ${cmd.name}`);
      const fencingToken = `${cmd.name}:${r.token}`;
      printWrite(io, out, { name: cmd.name, owner: r.owner, token: r.token, fencingToken }, `token=${r.token} owner=${r.owner} fencing-token=${fencingToken}`);
      return 0;
    }
    case 'lock-release': {
      const headers = await onceHeaders(session, `lock release ${cmd.name}`, cmd);
      await client.ok({ method: 'DELETE', path: `/v1/locks/${encodeURIComponent(cmd.name)}?token=${cmd.token}`, headers, idempotent: appliedOnce(headers) }, `lock release ${cmd.name}`);
      printWrite(io, out, { name: cmd.name, released: true }, `released ${cmd.name}`);
      return 0;
    }
    case 'txn': {
      const body = await readTxnBody(cmd.file, io);
      const headers = { ...(await onceHeaders(session, 'txn', cmd)), ...jsonHeaders };
      const res = await client.ok({ method: 'POST', path: '/v1/txn', body, headers, idempotent: appliedOnce(headers) }, 'txn');
      if (out === 'json') {
        line(io.stdout, res.body.toString('utf8'));
        return 0;
      }
      let r: TxnAnswer;
      try {
        r = JSON.parse(res.body.toString('utf8')) as TxnAnswer;
      } catch {
        throw new CliError('txn: the member answered with a body that is not JSON');
      }
      const valueOf = (x: TxnAnswer['results'][number]): string => (x.kv ? printable(Buffer.from(x.kv.value, 'base64')) : '');
      if (out === 'table') {
        line(io.stdout, `${r.succeeded ? 'SUCCEEDED' : 'FAILED'} revision=${r.revision}`);
        io.stdout.write(renderTable(['OP', 'KEY', 'VALUE'], r.results.map((x) => [x.type, x.key ?? x.kv?.key ?? '', valueOf(x)])));
        return 0;
      }
      // As etcdctl: which branch ran, then one line per operation.
      line(io.stdout, `${r.succeeded ? 'SUCCEEDED' : 'FAILED'} revision=${r.revision}`);
      for (const x of r.results) {
        const key = x.key ?? x.kv?.key ?? '';
        if (x.type === 'get') line(io.stdout, x.kv ? `get ${key} ${valueOf(x)}` : `get ${key} (not found)`);
        else if (x.type === 'delete') line(io.stdout, `delete ${key} deleted=${String(x.deleted ?? false)}`);
        else line(io.stdout, `${x.type} ${key}${x.revision !== undefined ? ` revision=${x.revision}` : ''}`);
      }
      return 0;
    }
  }
}

function printMembership(io: CliIo, output: OutputFormat, res: { body: Buffer }, simple: string): void {
  if (output === 'simple') {
    line(io.stdout, simple);
    return;
  }
  let members: MembersBody['members'] = [];
  try {
    members = (JSON.parse(res.body.toString('utf8')) as MembersBody).members ?? [];
  } catch {
    // an answer without the member list: print what is known
  }
  if (output === 'json') writeJson(io.stdout, { message: simple, members });
  else io.stdout.write(renderTable(['NAME', 'VOTER', 'PEER', 'CLIENT-URL'], members.map((m) => [m.name, m.voter ? 'voter' : 'learner', m.peerUrl, m.clientUrl])));
}

/** Commands that need no cluster: help, version, completion. */
function printInfo(cmd: Extract<Command, { kind: 'help' | 'version' | 'completion' }>, output: OutputFormat, io: CliIo): number {
  switch (cmd.kind) {
    case 'help': {
      const c = cmd.topic === null ? undefined : commandHelp(cmd.topic);
      line(io.stdout, c === undefined ? globalHelp() : commandHelpText(c));
      return 0;
    }
    case 'version':
      if (output === 'json') writeJson(io.stdout, { raftctl: RAFTKV_VERSION, api: 'v1', node: process.version });
      else line(io.stdout, `raftctl version ${RAFTKV_VERSION} (API v1, Node.js ${process.version})`);
      return 0;
    case 'completion':
      io.stdout.write(completionScript(cmd.shell));
      return 0;
  }
}

function usageFailure(io: CliIo, err: UsageError): number {
  line(io.stderr, `raftctl: ${err.message}`);
  line(io.stderr, shortUsage(err.command));
  return 2;
}

/** Parses and runs one raftctl invocation; resolves with the exit code. Never rejects. */
export async function runRaftctl(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv, io.env);
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, err);
    line(io.stderr, `raftctl: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const cmd = parsed.command;
  if (cmd.kind === 'help' || cmd.kind === 'version' || cmd.kind === 'completion') return printInfo(cmd, parsed.options.output, io);
  try {
    return await execute(cmd, parsed.options, io);
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, err);
    line(io.stderr, `raftctl: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
