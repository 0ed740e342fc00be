// toStorageError must classify by the whole cause chain: RocksLevel reports a failed open as
// "Database is not open" and keeps the OS reason only in `cause`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StorageError, toStorageError } from '../../../daemon/src/storage/errors.js';

test('a NoSpace reason hidden in cause is found', () => {
  const inner = Object.assign(new Error('IO error: No space left on device: While appending to file: /d/000012.log'), { code: 'LEVEL_IO_ERROR' });
  const outer = new Error('Database is not open', { cause: inner });
  const e = toStorageError(outer, 'open /d');
  assert.equal(e.code, 'NoSpace');
  assert.match(e.message, /^open \/d: no space left on device \(Database is not open: IO error: No space left/);
  assert.equal(e.cause, outer);
});

test('an ENOSPC code anywhere in the chain means NoSpace', () => {
  const inner = Object.assign(new Error('write failed'), { code: 'ENOSPC' });
  assert.equal(toStorageError(new Error('batch failed', { cause: inner }), 'persist').code, 'NoSpace');
});

test('corruption in a cause is Corrupt; anything else is IO', () => {
  assert.equal(toStorageError(new Error('open failed', { cause: new Error('Corruption: bad block') }), 'open').code, 'Corrupt');
  const io = toStorageError(new Error('Database is not open', { cause: new Error('IO error: Permission denied') }), 'open /d');
  assert.equal(io.code, 'IO');
  assert.equal(io.message, 'open /d: Database is not open: IO error: Permission denied');
});

test('a cyclic cause chain does not hang and a StorageError passes through', () => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  Object.defineProperty(a, 'cause', { value: b });
  assert.equal(toStorageError(a, 'x').code, 'IO');
  const s = new StorageError('NoSpace', 'full');
  assert.equal(toStorageError(s, 'x'), s);
  assert.equal(toStorageError('plain string', 'x').message, 'x: plain string');
});
