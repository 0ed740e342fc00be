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
  /**
   * Writes what `send` queued now instead of at the end of the event-loop turn. The driver calls
   * it after handing out a Ready's messages, so an Append reaches the socket before the leader
   * starts its own fsync and an ack leaves before the follower applies (a single client waits on
   * exactly that path). Optional: an implementation may deliver at once anyway.
   */
  flush?(): void;
  close(): Promise<void>;
}
