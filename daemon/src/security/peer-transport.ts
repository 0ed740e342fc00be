// The peer transport with mutual TLS whose certificates can be rotated without a restart.
// TcpTransport takes its TLS material once (its listener is built in start()), so on a
// rotation this wrapper replaces the whole TcpTransport: close the old one, start a new one on
// the same port with the new material, and hand it the same peers and faults. Every peer
// connection is then re-established with the new certificates — the CA rotation case needs
// exactly that (connections verified against the old CA must not outlive it). Raft tolerates
// the messages lost in the few milliseconds of the swap.
import type { Message, NodeId } from '../raft/types.js';
import type { Transport } from '../transport/types.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import type { TcpTransportOptions, TransportFaults, TransportTlsOptions } from '../transport/tcp-transport.js';
import type { ReloadableTls, TlsMaterial } from './tls-material.js';

/** Logger subset. */
export interface PeerTransportLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** TLS options for TcpTransport from material: mutual TLS, peers verified against the peer CA. */
export function transportTlsOf(m: TlsMaterial): TransportTlsOptions {
  return m.ca !== undefined
    ? { key: m.key, cert: m.cert, ca: m.ca, requestCert: true, rejectUnauthorized: true }
    : { key: m.key, cert: m.cert, requestCert: true, rejectUnauthorized: true };
}

/**
 * A Transport (with the fault hook the drills use) over a TcpTransport that is rebuilt when
 * `tls` reloads. Calls made while a swap is under way go to the new transport once it started;
 * sends in between are dropped (best effort, as any send).
 */
export class ReloadingPeerTransport implements Transport {
  private inner: TcpTransport;
  private readonly peers = new Map<NodeId, string>();
  private faults: TransportFaults = {};
  private onMessage: ((m: Message) => void) | null = null;
  private swapping: Promise<void> = Promise.resolve();
  private closed = false;
  /** Rotations applied (tests and logs). */
  swaps = 0;

  constructor(
    private readonly base: Omit<TcpTransportOptions, 'tls'>,
    tls: ReloadableTls,
    private readonly log: PeerTransportLogger,
  ) {
    this.inner = new TcpTransport({ ...base, tls: transportTlsOf(tls.current) });
    tls.onChange((m) => {
      this.swapping = this.swapping.then(() => this.swap(m)).catch((err: unknown) => {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'peer transport could not restart with the new certificates');
      });
    });
  }

  /** The bound peer port. */
  get port(): number {
    return this.inner.port;
  }

  async start(onMessage: (message: Message) => void): Promise<void> {
    this.onMessage = onMessage;
    await this.inner.start(onMessage);
  }

  private async swap(m: TlsMaterial): Promise<void> {
    if (this.closed || this.onMessage === null) return;
    const old = this.inner;
    const port = old.port;
    await old.close();
    if (this.closed) return;
    const next = new TcpTransport({ ...this.base, listenPort: port || this.base.listenPort, tls: transportTlsOf(m) });
    await next.start(this.onMessage);
    for (const [id, address] of this.peers) next.setPeer(id, address);
    next.setFaults(this.faults);
    this.inner = next;
    this.swaps++;
    this.log.info({ port, peers: this.peers.size }, 'peer transport restarted with rotated certificates');
  }

  setPeer(id: NodeId, address: string): void {
    this.peers.set(id, address);
    this.inner.setPeer(id, address);
  }

  removePeer(id: NodeId): void {
    this.peers.delete(id);
    this.inner.removePeer(id);
  }

  send(message: Message): void {
    this.inner.send(message);
  }

  setFaults(faults: TransportFaults): void {
    this.faults = faults;
    this.inner.setFaults(faults);
  }

  /** Waits for a rotation under way (tests). */
  settled(): Promise<void> {
    return this.swapping;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.swapping;
    await this.inner.close();
  }
}
