// raftctl's help: one entry per command (its usage line, a summary and its flags). The global
// help, each `raftctl CMD --help`, the short usage line printed on a usage error and the shell
// completion scripts are all derived from this table, so they cannot drift apart.
import { S3_FLAGS_HELP } from '../backup/s3-options.js';

/** One command's help. */
export interface CommandHelp {
  /** The command word (`members`, `lock`, ...). */
  readonly name: string;
  /** Usage forms, without the leading `raftctl `. */
  readonly usage: readonly string[];
  /** One line for the command list. */
  readonly summary: string;
  /** Further paragraphs for `raftctl CMD --help`. */
  readonly details?: string;
  /** The command's own flags: [flag, meaning]. */
  readonly flags?: readonly (readonly [string, string])[];
  /** Words that may follow the command (subcommands), for completion. */
  readonly subcommands?: readonly string[];
}

/** Where the HTTP API (txn body, headers, error codes) is documented for users. */
export const API_REFERENCE = 'docs/api.md (also served by every member at GET /v1/openapi.json)';

const WRITE_FLAGS: readonly (readonly [string, string])[] = [
  ['--idempotency-key K', 'send Idempotency-Key K (1..256 visible ASCII): the write is applied once however often it is sent, also by later runs with the same K'],
  ['--retry', 'use an automatic Idempotency-Key (for members without client sessions): retried after an unknown outcome, applied once'],
];

/** How raftctl keeps a resent write from being applied twice (shown with every write command). */
const ONCE = 'Writes are applied at most once: each carries the number of the process\'s client session\n' +
  '(Session-Id/Session-Seq), or its Idempotency-Key, so raftctl resends it to another member after a\n' +
  'timeout or a dropped connection. Against members without sessions, a write whose outcome is\n' +
  'unknown is reported, not resent, unless it has a key (--idempotency-key K or --retry).';

export const COMMANDS: readonly CommandHelp[] = [
  {
    name: 'put',
    usage: ['put KEY VALUE|- [--if-match REV] [--fencing-token LOCK:TOKEN] [--idempotency-key K] [--retry]'],
    summary: 'write a value (- reads it from stdin)',
    details: 'Keys do not expire (the API has no leases): for time-bound ownership take a lock\n' +
      '(`raftctl lock acquire`, with a TTL) and write with its --fencing-token.\n\n' + ONCE,
    flags: [
      ['--if-match REV', 'compare-and-swap: write only if the key\'s mod revision is REV (0: only if the key does not exist); 412 otherwise'],
      ['--fencing-token LOCK:TOKEN', 'write only while TOKEN is the current token of lock LOCK (as `lock acquire` prints it); 409 otherwise'],
      ...WRITE_FLAGS,
    ],
  },
  {
    name: 'get',
    usage: ['get KEY [--serializable]'],
    summary: 'print a value (linearizable unless --serializable)',
    details: 'Prints the value and a newline; -w json prints {"key","value"|"valueBase64","modRevision","createRevision"}.',
    flags: [['--serializable', 'read the answering member\'s local state (may be stale, needs no quorum)']],
  },
  {
    name: 'del',
    usage: ['del KEY [--if-match REV] [--fencing-token LOCK:TOKEN] [--idempotency-key K] [--retry]'],
    summary: 'delete a key',
    details: ONCE,
    flags: [
      ['--if-match REV', 'delete only if the key\'s mod revision is REV; 412 otherwise'],
      ['--fencing-token LOCK:TOKEN', 'delete only while TOKEN is the current token of lock LOCK'],
      ...WRITE_FLAGS,
    ],
  },
  {
    name: 'list',
    usage: ['list [PREFIX] [--limit N]'],
    summary: 'list keys and values under a prefix (all keys without one)',
    flags: [['--limit N', 'at most N keys (1..10000; the member\'s default is 1000)']],
  },
  {
    name: 'watch',
    usage: ['watch PREFIX [--from-revision R]', 'watch --all [--from-revision R]'],
    summary: 'stream changes under a prefix (--all: every key)',
    details: 'Reconnects (to the next endpoint) and resumes after the last event seen when the stream drops.',
    flags: [
      ['--all', 'watch every key'],
      ['--from-revision R', 'start with the changes at revision R (else only new ones)'],
    ],
  },
  {
    name: 'status',
    usage: ['status'],
    summary: 'every member: role, term, commit, applied and last index, lag',
    details: 'Asks every endpoint, then every member they name. Exit 1 when a member did not answer.\n' +
      'Disaster recovery: the most up-to-date survivor is the one with the highest LAST-INDEX.',
  },
  {
    name: 'members',
    usage: ['members list', 'members add NAME PEER_URL CLIENT_URL', 'members promote NAME', 'members remove NAME'],
    summary: 'list, add (as a learner), promote or remove members',
    subcommands: ['list', 'add', 'promote', 'remove'],
  },
  {
    name: 'leader',
    usage: ['leader transfer [NAME]'],
    summary: 'move leadership (to NAME or the most caught-up voter)',
    subcommands: ['transfer'],
  },
  {
    name: 'snapshot',
    usage: [
      'snapshot', 'snapshot save FILE [--serializable]', 'snapshot save --dir DIR [--keep N] [--serializable]',
      'snapshot save s3://BUCKET/PREFIX/|file://DIR/ [--keep N] [--keep-within D] [--serializable] [--s3-...]',
      'snapshot list s3://BUCKET/PREFIX/|file://DIR/ [--s3-...]',
    ],
    summary: 'take a snapshot on the leader now, download a checksummed backup, or list backups',
    details: 'save FILE writes FILE (via FILE.part, fsynced, then renamed). save --dir writes\n' +
      'DIR/snapshot-<UTC time>-rev<R>-<tag>.snap, then deletes the oldest such files beyond N (nothing else).\n' +
      'save s3://BUCKET/PREFIX/ streams the backup into that prefix (multipart, SHA-256 checked) under the\n' +
      'same never-colliding name, then applies --keep/--keep-within; file://DIR/ does the same in DIR.\n\n' + S3_FLAGS_HELP,
    flags: [
      ['--serializable', 'back up the answering member\'s state without a quorum (disaster recovery)'],
      ['--dir DIR', 'timestamped backups in DIR (which must exist)'],
      ['--keep N', 'with --dir or a URL: keep the newest N backups (1..1000)'],
      ['--keep-within D', 'with a URL: keep every backup taken within D (90m, 36h, 7d, 2w) of the newest'],
    ],
    subcommands: ['save', 'list'],
  },
  {
    name: 'lock',
    usage: ['lock acquire NAME OWNER TTL_MS [--idempotency-key K] [--retry]', 'lock release NAME TOKEN [--idempotency-key K] [--retry]'],
    summary: 'acquire a lock (prints its fencing token) or release it',
    details: 'A lock is held until released or until TTL_MS pass. Pass the printed fencing token to\n' +
      '`raftctl put --fencing-token` so a holder that lost the lock cannot write.\n\n' + ONCE,
    flags: WRITE_FLAGS,
    subcommands: ['acquire', 'release'],
  },
  {
    name: 'txn',
    usage: ['txn FILE.json|- [--idempotency-key K] [--retry]'],
    summary: 'run a transaction: compares, then the success or failure operations',
    details: 'The body is {"compare":[...],"success":[...],"failure":[...]}, for example\n' +
      '  {"compare":[{"key":"a","target":"modRevision","op":"=","value":0}],\n' +
      '   "success":[{"put":{"key":"a","value":"hello"}}]}\n' +
      `Its full form (value and valueBase64, every compare target): ${API_REFERENCE}.\n\n${ONCE}`,
    flags: WRITE_FLAGS,
  },
  {
    name: 'bench',
    usage: ['bench [--op put|get|mix] [--connections N] [--duration 10s] ...'],
    summary: 'load generator (raftctl bench --help)',
  },
  {
    name: 'completion',
    usage: ['completion bash|zsh'],
    summary: 'print a shell completion script',
    details: 'bash: source <(raftctl completion bash)\nzsh:  source <(raftctl completion zsh)   (after compinit)',
    subcommands: ['bash', 'zsh'],
  },
  {
    name: 'version',
    usage: ['version'],
    summary: 'print raftctl\'s version',
  },
  {
    name: 'help',
    usage: ['help [COMMAND]'],
    summary: 'this help, or a command\'s',
  },
];

/** Global flags (before or after the command, as etcdctl's): [flag, meaning]. */
export const GLOBAL_FLAGS: readonly (readonly [string, string])[] = [
  ['--endpoints URL,URL', 'members to talk to (env RAFTKV_ENDPOINTS; default http://127.0.0.1:2379)'],
  ['--timeout DURATION', 'give up after this long, retrying across all endpoints meanwhile (e.g. 500ms, 10s, 1m; default 10s)'],
  ['-w, --write-out FORMAT', 'simple (default), json or table'],
  ['--token T', 'bearer token for members with --auth-token-file (env RAFTKV_TOKEN)'],
  ['--token-file F', 'read it from F: the token alone, or a member token file (its first admin entry) (env RAFTKV_TOKEN_FILE)'],
  ['--cacert F', 'CA bundle of the members\' HTTPS certificates (env RAFTKV_CACERT)'],
  ['--cert F --key F', 'client certificate and key, for members with --client-ca (env RAFTKV_CERT, RAFTKV_KEY)'],
  ['--version', 'print the version'],
  ['-h, --help', 'this help; `raftctl CMD --help` for a command'],
];

/** The commands' words, for completion and lookups. */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => c.name);

/** The help entry of a command word (aliases included), or undefined. */
export function commandHelp(name: string): CommandHelp | undefined {
  return COMMANDS.find((c) => c.name === (name === 'delete' ? 'del' : name));
}

function flagTable(flags: readonly (readonly [string, string])[]): string {
  const width = Math.max(...flags.map(([f]) => f.length));
  return flags.map(([f, what]) => `  ${f.padEnd(width)}  ${what}`).join('\n');
}

/** `raftctl --help`. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: raftctl [global flags] COMMAND [args]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global flags:',
    flagTable(GLOBAL_FLAGS),
    '',
    'Run \'raftctl COMMAND --help\' for a command\'s arguments and flags.',
    `The HTTP API behind every command: ${API_REFERENCE}.`,
  ].join('\n');
}

/** `raftctl CMD --help`. */
export function commandHelpText(c: CommandHelp): string {
  const parts = [`usage: ${c.usage.map((u) => `raftctl ${u}`).join('\n       ')}`, '', c.summary];
  if (c.details !== undefined) parts.push('', c.details);
  if (c.flags !== undefined && c.flags.length > 0) parts.push('', 'flags:', flagTable(c.flags));
  parts.push('', 'Global flags (raftctl --help): --endpoints, --timeout, -w json|table|simple, --token, --token-file, --cacert, --cert, --key.');
  return parts.join('\n');
}

/** The short text printed on a usage error: the command's usage lines and where to learn more. */
export function shortUsage(command: string | null): string {
  const c = command === null ? undefined : commandHelp(command);
  if (c === undefined) return 'usage: raftctl [global flags] COMMAND [args]  (raftctl --help lists the commands)';
  return `usage: ${c.usage.map((u) => `raftctl ${u}`).join('\n       ')}\n(raftctl ${c.name} --help for more)`;
}
