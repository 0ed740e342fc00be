// The operator's view of a daemon --auth-token-file (docs/security.md): it validates the file the
// way the daemon does (a file a member would refuse is reported before any pod fails) and picks
// the operator's own credential, the first `admin` token entry. Error messages name line numbers
// and rules only: a token never appears in an error, a log line, an Event or the status.

/** Bounds, as the daemon enforces them (daemon/src/security/tokens.ts TOKEN_LIMITS). */
export const OPERATOR_TOKEN_LIMITS = { minTokenChars: 16, maxTokenChars: 512, maxEntries: 10_000 } as const;

const ROLES = ['read', 'write', 'admin'] as const;

/** The token file cannot be used by the operator; the message never contains a token. */
export class TokenFileProblem extends Error {
  override readonly name = 'TokenFileProblem';
}

/** The operator's credential from a token file. */
export interface AdminToken {
  /** The bearer token (secret: never log it). */
  readonly token: string;
  /** The entry's name (`line-N` when the line has none): safe to show. */
  readonly entryName: string;
  /** 1-based line of the entry. */
  readonly line: number;
}

/**
 * Parses a token file and returns its first `admin` bearer-token entry.
 * @throws TokenFileProblem when a line is malformed (as the daemon would refuse it) or no admin
 * token entry exists (`cn=` entries do not count: the operator presents no client certificate).
 */
export function adminTokenFrom(text: string, source: string): AdminToken {
  const lines = text.split(/\r?\n/);
  const seen = new Set<string>();
  let entries = 0;
  let admin: AdminToken | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source} line ${i + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length < 2 || fields.length > 3) throw new TokenFileProblem(`${where}: expected '<token> <role> [name]'`);
    const [secret = '', role = '', nameField] = fields;
    if (!(ROLES as readonly string[]).includes(role)) throw new TokenFileProblem(`${where}: role must be one of ${ROLES.join(', ')}`);
    const entryName = nameField ?? `line-${i + 1}`;
    if (!/^[\x21-\x7e]{1,128}$/.test(entryName)) throw new TokenFileProblem(`${where}: name must be 1..128 visible ASCII characters`);
    if (++entries > OPERATOR_TOKEN_LIMITS.maxEntries) throw new TokenFileProblem(`${source}: more than ${OPERATOR_TOKEN_LIMITS.maxEntries} entries`);
    if (secret.startsWith('cn=')) {
      if (secret.length === 3) throw new TokenFileProblem(`${where}: empty certificate CN`);
      continue;
    }
    if (secret.length < OPERATOR_TOKEN_LIMITS.minTokenChars || secret.length > OPERATOR_TOKEN_LIMITS.maxTokenChars || !/^[\x21-\x7e]+$/.test(secret)) {
      throw new TokenFileProblem(`${where}: a token must be ${OPERATOR_TOKEN_LIMITS.minTokenChars}..${OPERATOR_TOKEN_LIMITS.maxTokenChars} visible ASCII characters`);
    }
    if (seen.has(secret)) throw new TokenFileProblem(`${where}: the same token appears twice`);
    seen.add(secret);
    if (role === 'admin' && admin === undefined) admin = { token: secret, entryName, line: i + 1 };
  }
  if (entries === 0) throw new TokenFileProblem(`${source}: no entries (members would refuse every request)`);
  if (admin === undefined) throw new TokenFileProblem(`${source}: no 'admin' token entry; the operator authenticates its member calls (membership, leadership transfer, drills) with the first one`);
  return admin;
}
