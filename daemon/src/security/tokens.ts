// Bearer tokens and client-certificate names with roles, from the --auth-token-file.
//
// File format (UTF-8, one entry per line; blank lines and lines starting with # are ignored):
//   <token> <role> [name]        a bearer token: clients send `Authorization: Bearer <token>`
//   cn=<CommonName> <role> [name] a verified client certificate (--client-ca) with that subject CN
// role is read, write or admin (each includes the ones before it). name (default `line-<n>`)
// identifies the entry in logs; the token itself is never logged. Tokens are 16..512 visible
// ASCII characters and must not start with `cn=`.
//
// Only SHA-256 digests of tokens are kept in memory; a presented token is hashed and compared
// with every entry's digest by crypto.timingSafeEqual, always over the whole table, so the
// time taken does not depend on how much of a token matched or on which entry matched.
import { createHash, timingSafeEqual } from 'node:crypto';
import { WatchedFiles, readAll } from './watched-files.js';
import type { WatchLogger } from './watched-files.js';

/** Roles, weakest first; each includes the ones before it. */
export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who made a request, once authenticated. */
export interface Principal {
  readonly name: string;
  readonly role: Role;
  readonly via: 'token' | 'certificate';
}

/** Bounds of the token file. */
export const TOKEN_LIMITS = { minTokenChars: 16, maxTokenChars: 512, maxEntries: 10_000 } as const;

/** A line of the token file that cannot be used; the message names the line, never the token. */
export class TokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenFileError';
  }
}

/** True when `held` is at least `needed`. */
export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** One valid line of a token file. */
export interface TokenFileEntry {
  readonly kind: 'token' | 'certificate';
  /** The bearer token (secret: never log it), or the certificate CN (without `cn=`). */
  readonly secret: string;
  readonly role: Role;
  /** The entry's name, `line-<n>` when the line has none: safe to show. */
  readonly name: string;
  /** 1-based line number. */
  readonly line: number;
}

/**
 * Parses and validates a token file by the daemon's rules, the one parser of the format (the
 * member's table, the operator's admin credential and raftctl --token-file all read it). Throws
 * TokenFileError naming the first bad line and rule, never a token.
 */
export function parseTokenFile(text: string, source = 'token file'): TokenFileEntry[] {
  const entries: TokenFileEntry[] = [];
  const seenTokens = new Set<string>();
  const seenCns = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source} line ${i + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length < 2 || fields.length > 3) throw new TokenFileError(`${where}: expected '<token> <role> [name]'`);
    const [secret, role, nameField] = fields as [string, string, string | undefined];
    if (!isRole(role)) throw new TokenFileError(`${where}: role must be one of ${ROLES.join(', ')}`);
    const name = nameField ?? `line-${i + 1}`;
    if (!/^[\x21-\x7e]{1,128}$/.test(name)) throw new TokenFileError(`${where}: name must be 1..128 visible ASCII characters`);
    if (entries.length >= TOKEN_LIMITS.maxEntries) throw new TokenFileError(`${source}: more than ${TOKEN_LIMITS.maxEntries} entries`);
    if (secret.startsWith('cn=')) {
      const cn = secret.slice(3);
      if (cn === '') throw new TokenFileError(`${where}: empty certificate CN`);
      if (seenCns.has(cn)) throw new TokenFileError(`${where}: certificate CN listed twice`);
      seenCns.add(cn);
      entries.push({ kind: 'certificate', secret: cn, role, name, line: i + 1 });
      continue;
    }
    if (secret.length < TOKEN_LIMITS.minTokenChars || secret.length > TOKEN_LIMITS.maxTokenChars || !/^[\x21-\x7e]+$/.test(secret)) {
      throw new TokenFileError(`${where}: a token must be ${TOKEN_LIMITS.minTokenChars}..${TOKEN_LIMITS.maxTokenChars} visible ASCII characters`);
    }
    if (seenTokens.has(secret)) throw new TokenFileError(`${where}: the same token appears twice`);
    seenTokens.add(secret);
    entries.push({ kind: 'token', secret, role, name, line: i + 1 });
  }
  if (entries.length === 0) throw new TokenFileError(`${source}: no entries (every request would be refused)`);
  return entries;
}

interface TokenEntry {
  readonly digest: Buffer;
  readonly principal: Principal;
}

/** The parsed token file. Immutable; a reload builds a new table. */
export class TokenTable {
  private constructor(
    private readonly tokens: readonly TokenEntry[],
    private readonly certs: ReadonlyMap<string, Principal>,
  ) {}

  /** Entries in the table (tokens + certificate names). */
  get size(): number {
    return this.tokens.length + this.certs.size;
  }

  /** Parses the file's text; throws TokenFileError naming the first bad line. */
  static parse(text: string, source = 'token file'): TokenTable {
    const tokens: TokenEntry[] = [];
    const certs = new Map<string, Principal>();
    for (const e of parseTokenFile(text, source)) {
      if (e.kind === 'certificate') certs.set(e.secret, { name: e.name, role: e.role, via: 'certificate' });
      else tokens.push({ digest: sha256(e.secret), principal: { name: e.name, role: e.role, via: 'token' } });
    }
    return new TokenTable(tokens, certs);
  }

  /** The principal a bearer token belongs to, or null. Constant-time over the table. */
  byToken(token: string): Principal | null {
    // Over-long input is refused before hashing would cost anything notable.
    if (token.length === 0 || token.length > TOKEN_LIMITS.maxTokenChars) return null;
    const d = sha256(token);
    let found: Principal | null = null;
    for (const e of this.tokens) {
      // No early exit: every entry is compared whatever matched before.
      if (timingSafeEqual(d, e.digest)) found = e.principal;
    }
    return found;
  }

  /** The principal of a verified client certificate's CN, or null. */
  byCertificate(cn: string): Principal | null {
    return this.certs.get(cn) ?? null;
  }
}

/**
 * The --auth-token-file, re-read when it changes (token rotation without a restart). A file that
 * no longer parses is refused with a warning and the previous table stays in force.
 */
export class TokenFile {
  private table: TokenTable;
  private readonly watcher: WatchedFiles;

  constructor(readonly path: string, log: WatchLogger) {
    const contents = readAll([path]);
    this.table = TokenTable.parse((contents.get(path) as Buffer).toString('utf8'), path);
    this.watcher = new WatchedFiles('auth tokens', [path], contents, (c) => {
      this.table = TokenTable.parse((c.get(path) as Buffer).toString('utf8'), path);
    }, log);
  }

  get current(): TokenTable {
    return this.table;
  }

  start(intervalMs: number): void {
    this.watcher.start(intervalMs);
  }

  poll(): boolean {
    return this.watcher.poll();
  }

  stop(): void {
    this.watcher.stop();
  }
}
