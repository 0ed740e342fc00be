// The transport boundary: fire-and-forget message delivery between members.
import type { Message, NodeId } from '../raft/types.js';

/**
 * Delivers raft messages to peers. Delivery is best effort (raft tolerates loss): `send`
 * never blocks and never throws; a full per-peer queue drops the message and counts it.
 * Implementations: TcpTransport (tcp-transport.ts) and the simulator's network.
 */
export interface Transport {
  /** Starts listening; `onMessage` is called for every message received, in arrival order per peer. */
  start(onMessage: (message: Message) => void): Promise<void>;
  /** Sets or replaces the address of a peer (`host:port`). */
  setPeer(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
  send(message: Message): void;
  close(): Promise<void>;
}
