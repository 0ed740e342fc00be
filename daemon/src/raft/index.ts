// The raft core's public surface: what the driver, the simulator and tests import.
export { RawNode, VOTE_CONTEXT_TRANSFER, APPEND_CONTEXT_COMMIT_ONLY } from './node.js';
export { encodeConfChange, decodeConfChange, encodeConfState, decodeConfState, applyConfChange, validateConfChange, isVoter, isLearner, isMember, MAX_NODE_ID_BYTES } from './membership.js';
export { committedIndex, quorumSize, voteResult, hasQuorum } from './quorum.js';
export type { VoteResult } from './quorum.js';
export { RaftLog, entrySizeBytes, ENTRY_OVERHEAD_BYTES } from './log.js';
export { Progress, Inflights } from './progress.js';
export type { ProgressState } from './progress.js';
export { MAX_PENDING_READS } from './read-index.js';
export { RaftError, RaftInvariantError, assertInvariant } from './errors.js';
export type { RaftErrorCode } from './errors.js';
export { EntryType, MessageType } from './types.js';
export type {
  NodeId, Entry, HardState, ConfState, SnapshotMeta, ConfChange, Message, ReadState, Role, SoftState, Ready, Rng,
  BrokenVariants, RaftConfig, RaftInitialState, ProgressStatus, RaftStatus,
} from './types.js';
