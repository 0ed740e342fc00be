// `raftctl --token-file FILE`: the bearer token from a file, so a token never has to be on a
// command line (visible in `ps`) or in a pod spec. The file holds either the token alone or a
// member token file (docs/security.md: `<token> <role> [name]` lines), of which the first
// `admin` entry is used — what a backup Job mounting the cluster's token Secret needs.

/** The file could not give a token; the message never contains a token. */
export class TokenFileUnusable extends Error {
  override readonly name = 'TokenFileUnusable';
}

/** Bound on the file read (a token file of 10,000 entries of 512-byte tokens fits). */
export const MAX_TOKEN_FILE_BYTES = 8 * 1024 * 1024;

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** The token in `text` (the contents of `source`, named in errors). */
export function tokenFromFileText(text: string, source: string): string {
  const lines = text.split(/\r?\n/).map((l, i) => ({ n: i + 1, fields: l.trim().split(/\s+/).filter((f) => f !== '') }))
    .filter((l) => l.fields.length > 0 && !(l.fields[0] ?? '').startsWith('#'));
  if (lines.length === 0) throw new TokenFileUnusable(`${source} holds no token`);
  const only = lines[0];
  if (lines.length === 1 && only !== undefined && only.fields.length === 1) {
    const t = only.fields[0] as string;
    if (!VISIBLE_ASCII.test(t)) throw new TokenFileUnusable(`${source}: the token must be visible ASCII characters`);
    return t;
  }
  for (const l of lines) {
    const [token, role] = l.fields;
    if (token === undefined || role === undefined || token.startsWith('cn=')) continue;
    if (role === 'admin') {
      if (!VISIBLE_ASCII.test(token)) throw new TokenFileUnusable(`${source} line ${l.n}: the token must be visible ASCII characters`);
      return token;
    }
  }
  throw new TokenFileUnusable(`${source}: no admin entry (want the token alone, or member token-file lines "<token> admin [name]")`);
}
