// raftctl --token-file: the token alone or the first admin entry of a member token file; errors
// name the file and line but never carry a token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenFileUnusable, tokenFromFileText } from '../../../daemon/src/cli/token-file.js';
import { UsageError, parseArgs } from '../../../daemon/src/cli/args.js';

test('the token alone, or the first admin entry of member token-file lines', () => {
  assert.equal(tokenFromFileText('only-a-token-0123456789\n', 'f'), 'only-a-token-0123456789');
  assert.equal(tokenFromFileText('  # comment\n\nonly-a-token-0123456789  \r\n', 'f'), 'only-a-token-0123456789');
  const file = '# tokens\nreader-token-0123456789 read dashboards\ncn=ops admin ops\nadmin-token-one-0123456 admin oncall\nadmin-token-two-0123456 admin other\n';
  assert.equal(tokenFromFileText(file, 'f'), 'admin-token-one-0123456');
});

test('no usable token: a clear error without any token in it', () => {
  const secret = 'reader-token-0123456789';
  for (const text of ['', '# nothing\n\n', `${secret} read r\n${secret}x write w\n`, 'cn=ops admin ops\n']) {
    assert.throws(() => tokenFromFileText(text, '--token-file /t'), (err: unknown) => err instanceof TokenFileUnusable && /--token-file \/t/.test(err.message) && !err.message.includes(secret));
  }
});

test('--token-file and RAFTKV_TOKEN_FILE parse; --token and --token-file exclude each other', () => {
  assert.equal(parseArgs(['--token-file', '/t', 'status'], {}).options.tokenFile, '/t');
  assert.equal(parseArgs(['status'], { RAFTKV_TOKEN_FILE: '/e' }).options.tokenFile, '/e');
  assert.throws(() => parseArgs(['--token', 'abcdefghijklmnop', '--token-file', '/t', 'status'], {}), UsageError);
  assert.throws(() => parseArgs(['--token-file', '', 'status'], {}), UsageError);
});
