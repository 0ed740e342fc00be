// Child process for the torn-write test: appends batches to a RocksRaftStorage forever, printing
// "durable <lastIndex> <term> <commit>" after each awaited persist. The parent SIGKILLs it.
import { RocksRaftStorage } from '../../../daemon/src/storage/rocks-raft-storage.js';
import { EntryType, type Entry } from '../../../daemon/src/raft/types.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-child DIR');
const storage = new RocksRaftStorage(dir);
const state = await storage.load();
let last = state.entries[state.entries.length - 1]?.index ?? state.snapshot?.meta.index ?? 0;
let term = state.hardState.term;
let n = 0;
for (;;) {
  n++;
  term++;
  // Sometimes replace a short suffix (as a follower overwriting a conflicting tail).
  const from = n % 3 === 0 && last > 3 ? last - 2 : last + 1;
  const count = 1 + (n % 17);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const index = from + i;
    const data = new Uint8Array(64 + ((index * 31) % 512)).fill(index & 0xff);
    entries.push({ term, index, type: EntryType.Normal, data });
  }
  last = from + count - 1;
  const commit = Math.max(0, last - 1);
  await storage.persist({ hardState: { term, vote: 'c', commit }, entries });
  process.stdout.write(`durable ${last} ${term} ${commit}\n`);
}
