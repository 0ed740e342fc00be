// The operator's view of a daemon --auth-token-file (docs/security.md): it validates the file the
// way the daemon does (a file a member would refuse is reported before any pod fails) and picks
// the operator's own credential, the first `admin` token entry. Error messages name line numbers
// and rules only: a token never appears in an error, a log line, an Event or the status.
import { TokenFileError, parseTokenFile } from '../../../daemon/src/security/tokens.js';
import type { TokenFileEntry } from '../../../daemon/src/security/tokens.js';

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
 * Parses a token file (the daemon's own parser, so a file a member would refuse is refused here
 * the same way) and returns its first `admin` bearer-token entry.
 * @throws TokenFileProblem when a line is malformed or no admin token entry exists (`cn=` entries
 * do not count: the operator presents no client certificate).
 */
export function adminTokenFrom(text: string, source: string): AdminToken {
  let entries: TokenFileEntry[];
  try {
    entries = parseTokenFile(text, source);
  } catch (err) {
    if (err instanceof TokenFileError) throw new TokenFileProblem(err.message);
    throw err;
  }
  const admin = entries.find((e) => e.kind === 'token' && e.role === 'admin');
  if (admin === undefined) throw new TokenFileProblem(`${source}: no 'admin' token entry; the operator authenticates its member calls (membership, leadership transfer, drills) with the first one`);
  return { token: admin.secret, entryName: admin.name, line: admin.line };
}
