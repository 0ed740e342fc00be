// `raftctl --token-file FILE`: the bearer token from a file, so a token never has to be on a
// command line (visible in `ps`) or in a pod spec. The file holds either the token alone or a
// member token file (docs/security.md: `<token> <role> [name]` lines), of which the first
// `admin` entry is used — what a backup Job mounting the cluster's token Secret needs.
import { TokenFileError, parseTokenFile } from '../security/tokens.js';

/** The file could not give a token; the message never contains a token. */
export class TokenFileUnusable extends Error {
  override readonly name = 'TokenFileUnusable';
}

/** Bound on the file read (a token file of 10,000 entries of 512-byte tokens fits). */
export const MAX_TOKEN_FILE_BYTES = 8 * 1024 * 1024;

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** The token in `text` (the contents of `source`, named in errors). */
export function tokenFromFileText(text: string, source: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new TokenFileUnusable(`${source} holds no token`);
  const only = lines[0] as string;
  if (lines.length === 1 && !/\s/.test(only)) {
    if (!VISIBLE_ASCII.test(only)) throw new TokenFileUnusable(`${source}: the token must be visible ASCII characters`);
    return only;
  }
  // A member token file: read by the members' own parser, so a file they would refuse is refused here.
  let admin: string | undefined;
  try {
    admin = parseTokenFile(text, source).find((e) => e.kind === 'token' && e.role === 'admin')?.secret;
  } catch (err) {
    if (err instanceof TokenFileError) throw new TokenFileUnusable(err.message);
    throw err;
  }
  if (admin !== undefined) return admin;
  throw new TokenFileUnusable(`${source}: no admin entry (want the token alone, or member token-file lines "<token> admin [name]")`);
}
