// Raft message transport over long-lived TCP (optionally mutual-TLS) connections.
// Each member dials one outgoing connection per peer (lazily, on first send) and only writes on
// it; it reads peers' messages on the connections they dialled to it. Frames: frame-codec.ts.
// Everything is bounded: the per-peer send queue (messages, bytes), one queued snapshot per peer,
// bytes handed to the socket before waiting for 'drain', reassembled snapshot size, incoming
// connections, reconnect backoff.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { MessageType, type Message, type NodeId } from '../raft/types.js';
import type { Transport } from './types.js';
import { ByteWriter } from '../storage/codec.js';
import { FrameDecoder, MAX_FRAME_BYTES, encodeFrame, writeFrame, type Frame } from './frame-codec.js';

/** Structured logger (pino-compatible subset). */
export interface TransportLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** Per-peer counters. `dropped` counts queue overflow/unknown peer/encode failures; `droppedByFault` counts chaos drops. */
export interface PeerStats {
  sentMessages: number;
  sentBytes: number;
  receivedMessages: number;
  receivedBytes: number;
  dropped: number;
  droppedByFault: number;
  reconnects: number;
  /** Last measured round-trip time (ping/pong on the outgoing connection), or null. */
  rttMs: number | null;
}

/** Optional hooks for metrics; each is called synchronously and must not throw. */
export interface TransportObserver {
  onSent?(peer: NodeId, messages: number, bytes: number): void;
  onReceived?(peer: NodeId, messages: number, bytes: number): void;
  onDropped?(peer: NodeId, reason: 'queueFull' | 'unknownPeer' | 'encode' | 'fault' | 'disconnected'): void;
  onReconnect?(peer: NodeId): void;
  onRtt?(peer: NodeId, rttMs: number): void;
  /**
   * An established connection to `peer` closed and the one reconnect tried right after was
   * refused (ECONNREFUSED): nothing listens on its peer port, so its process is gone (crashed,
   * killed) rather than partitioned or paused (those time out instead).
   */
  onPeerGone?(peer: NodeId): void;
  /** A peer's connection said hello; `clientUrl` is its advertised client URL when it sent one. */
  onHello?(peer: NodeId, info: { readonly clientUrl?: string }): void;
}

/** Mutual TLS material (PEM). When given, both the listener and the dialler use TLS. */
export interface TransportTlsOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  readonly ca?: string | Buffer;
  /** Server asks peers for a certificate (default true: mutual TLS). */
  readonly requestCert?: boolean;
  /** Refuse peers whose certificate does not verify against `ca` (default true). */
  readonly rejectUnauthorized?: boolean;
  /** Name to verify in the peer's certificate; default: skip hostname check (members are identified by cert chain). */
  readonly servername?: string;
}

/** Chaos-drill fault injection: traffic to/from these members is silently dropped. */
export interface TransportFaults {
  readonly dropOutgoingTo?: readonly NodeId[];
  readonly dropIncomingFrom?: readonly NodeId[];
}

/** TcpTransport configuration. All bounds have defaults (see DEFAULT_TCP_TRANSPORT_BOUNDS). */
export interface TcpTransportOptions {
  readonly id: NodeId;
  readonly clusterId: string;
  /** Our advertised client URL, sent in every hello (peers learn where to redirect clients). */
  readonly clientUrl?: string;
  /** Listen address; default 0.0.0.0. */
  readonly listenHost?: string;
  /** Listen port; 0 picks an ephemeral port (see `port` after start()). */
  readonly listenPort: number;
  readonly logger?: TransportLogger;
  readonly observer?: TransportObserver;
  readonly tls?: TransportTlsOptions;
  readonly maxQueueMessages?: number;
  readonly maxQueueBytes?: number;
  readonly maxFrameBytes?: number;
  readonly snapshotChunkBytes?: number;
  readonly maxSnapshotBytes?: number;
  readonly maxSocketBufferBytes?: number;
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
  readonly connectTimeoutMs?: number;
  readonly helloTimeoutMs?: number;
  readonly maxIncomingConnections?: number;
  /** Ping interval on outgoing connections for RTT measurement; 0 disables. */
  readonly pingIntervalMs?: number;
  /**
   * Only a connection that was up at least this long is re-dialled at once when it closes (to
   * tell a dead peer process, onPeerGone); a peer that accepts and drops us is not dialled in a loop.
   */
  readonly goneProbeMinConnectionMs?: number;
  /** removePeer: how long a removed peer's connection may take to send what was queued before it is cut. */
  readonly removedPeerLingerMs?: number;
}

/** Default bounds (named so config and docs can refer to them). */
export const DEFAULT_TCP_TRANSPORT_BOUNDS = {
  maxQueueMessages: 8192,
  maxQueueBytes: 64 * 1024 * 1024,
  maxFrameBytes: MAX_FRAME_BYTES,
  snapshotChunkBytes: 1024 * 1024,
  maxSnapshotBytes: 1024 * 1024 * 1024,
  maxSocketBufferBytes: 4 * 1024 * 1024,
  reconnectBaseMs: 50,
  reconnectMaxMs: 5_000,
  connectTimeoutMs: 5_000,
  helloTimeoutMs: 5_000,
  maxIncomingConnections: 256,
  pingIntervalMs: 2_000,
  goneProbeMinConnectionMs: 1_000,
  removedPeerLingerMs: 1_000,
} as const;

interface QueueItem {
  readonly bytes: Uint8Array;
  /** 1 for the frame that completes a message, 0 for snapshot header / non-final chunks. */
  readonly messages: number;
  /** Snapshot frames carry their transfer id, so a broken transfer's leftovers can be purged. */
  readonly transferId: number;
  readonly lastOfTransfer: boolean;
}

interface Peer {
  readonly id: NodeId;
  address: string;
  socket: net.Socket | null;
  connected: boolean;
  decoder: FrameDecoder | null;
  queue: QueueItem[];
  queueHead: number;
  queuedMessages: number;
  queuedBytes: number;
  /** Snapshot bytes queued (outside maxQueueBytes; at most one snapshot queued at a time). */
  queuedSnapshotBytes: number;
  /** Transfer id whose header has been written but not yet its last chunk. */
  partialTransfer: number;
  flushScheduled: boolean;
  waitingDrain: boolean;
  backoffAttempt: number;
  reconnectTimer: NodeJS.Timeout | null;
  everConnected: boolean;
  /** An established connection just closed: the next connect attempt tells whether the process is gone. */
  probeAfterClose: boolean;
  /** When the current connection was established (performance.now()), 0 while not connected. */
  connectedAtMs: number;
  pingNonce: number;
  pingSentAt: number;
}

interface Incoming {
  readonly socket: net.Socket;
  readonly decoder: FrameDecoder;
  from: NodeId | null;
  helloTimer: NodeJS.Timeout | null;
  /** Chunks are kept as they come (not preallocated) so a lying header cannot make us allocate its claimed size. */
  transfer: { id: number; message: Message; total: number; chunks: Uint8Array[]; received: number } | null;
}

const noopLogger: TransportLogger = { warn: () => {} };

function parseAddress(address: string): { host: string; port: number } | null {
  const i = address.lastIndexOf(':');
  if (i <= 0) return null;
  let host = address.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return null;
  return { host, port };
}

/**
 * The daemon's Transport. send() never throws or blocks; delivery is best effort. Messages from
 * one peer reach onMessage in the order that peer sent them (a snapshot is delivered when its last
 * chunk arrives, so messages sent while it streams may overtake it).
 */
export class TcpTransport implements Transport {
  private readonly b: typeof DEFAULT_TCP_TRANSPORT_BOUNDS & Record<string, number>;
  private readonly logger: TransportLogger;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly statsByPeer = new Map<NodeId, PeerStats>();
  private readonly incoming = new Set<Incoming>();
  /** Every accepted TCP socket, handshaking or not (server.close() waits for all of them). */
  private readonly acceptedSockets = new Set<net.Socket>();
  private server: net.Server | null = null;
  /** Current TLS material; replaced by setTls() on a rotation. */
  private tlsOptions: TransportTlsOptions | undefined;
  private onMessage: ((m: Message) => void) | null = null;
  private closed = false;
  private nextTransferId = 1;
  private pingTimer: NodeJS.Timeout | null = null;
  private dropOut = new Set<NodeId>();
  private dropIn = new Set<NodeId>();

  constructor(private readonly options: TcpTransportOptions) {
    const b: Record<string, number> = { ...DEFAULT_TCP_TRANSPORT_BOUNDS };
    for (const k of Object.keys(DEFAULT_TCP_TRANSPORT_BOUNDS)) {
      const v = (options as unknown as Record<string, unknown>)[k];
      if (typeof v === 'number') b[k] = v;
    }
    this.b = b as typeof DEFAULT_TCP_TRANSPORT_BOUNDS & Record<string, number>;
    this.logger = options.logger ?? noopLogger;
    this.tlsOptions = options.tls;
  }

  /** The bound listen port (valid after start()). */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  async start(onMessage: (message: Message) => void): Promise<void> {
    if (this.server) throw new Error('TcpTransport already started');
    this.onMessage = onMessage;
    const tlsOpts = this.tlsOptions;
    const server = tlsOpts
      ? tls.createServer(
          {
            key: tlsOpts.key,
            cert: tlsOpts.cert,
            ...(tlsOpts.ca !== undefined ? { ca: tlsOpts.ca } : {}),
            requestCert: tlsOpts.requestCert ?? true,
            rejectUnauthorized: tlsOpts.rejectUnauthorized ?? true,
          },
          (s) => this.accept(s),
        )
      : net.createServer((s) => this.accept(s));
    server.on('tlsClientError', (err: Error, s: tls.TLSSocket) => {
      this.logger.warn({ event: 'transport.tls_error', remote: s.remoteAddress, err: err.message }, 'peer TLS handshake failed');
    });
    server.on('connection', (s: net.Socket) => {
      this.acceptedSockets.add(s);
      s.once('close', () => this.acceptedSockets.delete(s));
    });
    server.maxConnections = this.b.maxIncomingConnections;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listenPort, this.options.listenHost ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.warn({ event: 'transport.server_error', err: err.message }, 'transport listener error'));
    if (this.b.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.pingAll(), this.b.pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  /**
   * Rotates the TLS material in place: the listener keeps its port and serves the new
   * certificate to new connections, dials use it, and every open connection in either direction
   * (handshaking ones too) is closed so that none verified under the old material outlives it.
   * Peers reconnect at once; because the port never stops listening they see no refusal, so a
   * rotation does not look like a crashed member (no early campaigns).
   */
  setTls(next: TransportTlsOptions): void {
    if (this.tlsOptions === undefined) throw new Error('setTls on a transport started without TLS');
    this.tlsOptions = next;
    const server = this.server;
    if (server instanceof tls.Server) {
      server.setSecureContext(next.ca !== undefined ? { key: next.key, cert: next.cert, ca: next.ca } : { key: next.key, cert: next.cert });
    }
    for (const s of this.acceptedSockets) s.destroy();
    for (const p of this.peers.values()) p.socket?.destroy();
  }

  setPeer(id: NodeId, address: string): void {
    if (id === this.options.id) return;
    const p = this.peers.get(id);
    if (p) {
      if (p.address !== address) {
        p.address = address;
        // Drop the connection to the old address; the next send dials the new one.
        p.socket?.destroy();
      }
      return;
    }
    this.peers.set(id, {
      id,
      address,
      socket: null,
      connected: false,
      decoder: null,
      queue: [],
      queueHead: 0,
      queuedMessages: 0,
      queuedBytes: 0,
      queuedSnapshotBytes: 0,
      partialTransfer: 0,
      flushScheduled: false,
      waitingDrain: false,
      backoffAttempt: 0,
      reconnectTimer: null,
      everConnected: false,
      probeAfterClose: false,
      connectedAtMs: 0,
      pingNonce: 0,
      pingSentAt: 0,
    });
    this.stats(id);
  }

  removePeer(id: NodeId): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
    const socket = p.socket;
    if (socket !== null && p.connected && !socket.destroyed) {
      // What is already queued still goes out (the leader's last Append tells a removed member
      // that its removal committed); then the connection closes, cut after a bound if the peer
      // does not read.
      this.flushPeer(p);
      p.queue = [];
      socket.end();
      setTimeout(() => socket.destroy(), this.b.removedPeerLingerMs).unref();
      return;
    }
    p.queue = [];
    socket?.destroy();
  }

  /** Replaces the chaos faults (empty arrays / {} clear them). */
  setFaults(faults: TransportFaults): void {
    this.dropOut = new Set(faults.dropOutgoingTo ?? []);
    this.dropIn = new Set(faults.dropIncomingFrom ?? []);
  }

  /** A copy of the per-peer counters. */
  peerStats(): Map<NodeId, PeerStats> {
    const out = new Map<NodeId, PeerStats>();
    for (const [k, v] of this.statsByPeer) out.set(k, { ...v });
    return out;
  }

  private stats(id: NodeId): PeerStats {
    let s = this.statsByPeer.get(id);
    if (!s) {
      s = { sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0, dropped: 0, droppedByFault: 0, reconnects: 0, rttMs: null };
      this.statsByPeer.set(id, s);
    }
    return s;
  }

  private drop(id: NodeId, reason: 'queueFull' | 'unknownPeer' | 'encode' | 'fault' | 'disconnected'): void {
    const s = this.stats(id);
    if (reason === 'fault') s.droppedByFault++;
    else s.dropped++;
    this.options.observer?.onDropped?.(id, reason);
  }

  flush(): void {
    for (const p of this.peers.values()) {
      if (p.flushScheduled) this.flushPeer(p); // the turn-end flush then finds the queue empty
    }
  }

  send(message: Message): void {
    if (this.closed) return;
    const to = message.to;
    if (this.dropOut.has(to)) return this.drop(to, 'fault');
    const p = this.peers.get(to);
    if (!p) {
      if (this.replyOnIncoming(message)) return;
      return this.drop(to, 'unknownPeer');
    }
    if (p.queuedMessages >= this.b.maxQueueMessages) return this.drop(to, 'queueFull');
    try {
      const data = message.snapshotData;
      if (message.type === MessageType.Snapshot && data !== undefined && data.length > 0) {
        if (p.queuedSnapshotBytes > 0 || data.length > this.b.maxSnapshotBytes) return this.drop(to, 'queueFull');
        this.enqueueSnapshot(p, message, data);
      } else {
        const bytes = encodeFrame({ kind: 'message', message });
        if (bytes.length - 4 > this.b.maxFrameBytes) return this.drop(to, 'encode');
        if (p.queuedBytes + bytes.length > this.b.maxQueueBytes) return this.drop(to, 'queueFull');
        p.queue.push({ bytes, messages: 1, transferId: 0, lastOfTransfer: false });
        p.queuedMessages++;
        p.queuedBytes += bytes.length;
      }
    } catch (err) {
      this.logger.warn({ event: 'transport.encode_failed', peer: to, err: (err as Error).message }, 'cannot encode message; dropped');
      return this.drop(to, 'encode');
    }
    this.kick(p);
  }

  /**
   * A message for a member we do not dial (no longer, or not yet, in our configuration) goes
   * back on a connection it made to us, if one is open: that is how a member removed while cut
   * off hears the leader's answer to its campaign (it still dials us; we forgot its address), and
   * how a member that has not yet learned of a new one answers it. Plain messages only (no
   * snapshot transfers), and not while that socket already holds maxSocketBufferBytes unsent.
   */
  private replyOnIncoming(message: Message): boolean {
    if (message.type === MessageType.Snapshot) return false;
    let conn: Incoming | undefined;
    for (const c of this.incoming) {
      if (c.from === message.to && !c.socket.destroyed) conn = c;
    }
    if (conn === undefined || conn.socket.writableLength >= this.b.maxSocketBufferBytes) return false;
    try {
      const bytes = encodeFrame({ kind: 'message', message });
      if (bytes.length - 4 > this.b.maxFrameBytes) return false;
      conn.socket.write(bytes);
      const st = this.stats(message.to);
      st.sentMessages++;
      st.sentBytes += bytes.length;
      this.options.observer?.onSent?.(message.to, 1, bytes.length);
      return true;
    } catch {
      return false;
    }
  }

  private enqueueSnapshot(p: Peer, message: Message, data: Uint8Array): void {
    const transferId = this.nextTransferId++;
    const { snapshotData: _omit, ...rest } = message;
    void _omit;
    const header = encodeFrame({ kind: 'snapshotHeader', transferId, totalBytes: data.length, message: rest });
    const items: QueueItem[] = [{ bytes: header, messages: 0, transferId, lastOfTransfer: false }];
    let total = header.length;
    const chunk = Math.max(1, Math.min(this.b.snapshotChunkBytes, this.b.maxFrameBytes - 64));
    for (let off = 0; off < data.length; off += chunk) {
      const end = Math.min(data.length, off + chunk);
      const last = end === data.length;
      const bytes = encodeFrame({ kind: 'snapshotChunk', transferId, offset: off, data: data.subarray(off, end) });
      items.push({ bytes, messages: last ? 1 : 0, transferId, lastOfTransfer: last });
      total += bytes.length;
    }
    for (const it of items) p.queue.push(it);
    p.queuedMessages++;
    p.queuedSnapshotBytes += total;
  }

  /** Makes sure a connection exists (or is being made) and a flush is scheduled. */
  private kick(p: Peer): void {
    if (!p.socket && !p.reconnectTimer) this.connect(p);
    if (p.connected && !p.flushScheduled && !p.waitingDrain) {
      p.flushScheduled = true;
      // One flush per event-loop turn: everything sent this turn shares a corked write.
      setImmediate(() => {
        p.flushScheduled = false;
        this.flushPeer(p);
      });
    }
  }

  private connect(p: Peer): void {
    if (this.closed || this.peers.get(p.id) !== p) return;
    const addr = parseAddress(p.address);
    if (!addr) {
      this.logger.warn({ event: 'transport.bad_address', peer: p.id, address: p.address }, 'peer address is not host:port');
      this.purgeQueue(p);
      return;
    }
    const t = this.tlsOptions;
    const socket = t
      ? tls.connect({
          host: addr.host,
          port: addr.port,
          key: t.key,
          cert: t.cert,
          ...(t.ca !== undefined ? { ca: t.ca } : {}),
          rejectUnauthorized: t.rejectUnauthorized ?? true,
          ...(t.servername !== undefined ? { servername: t.servername } : { checkServerIdentity: () => undefined }),
        })
      : net.connect({ host: addr.host, port: addr.port });
    p.socket = socket;
    p.connected = false;
    p.waitingDrain = false;
    p.decoder = new FrameDecoder({ maxFrameBytes: this.b.maxFrameBytes });
    socket.setTimeout(this.b.connectTimeoutMs);
    socket.on('timeout', () => {
      if (!p.connected) socket.destroy(new Error('connect timeout'));
    });
    socket.once(t ? 'secureConnect' : 'connect', () => {
      if (p.socket !== socket) return;
      socket.setTimeout(0);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 10_000);
      p.connected = true;
      if (p.everConnected) {
        this.stats(p.id).reconnects++;
        this.options.observer?.onReconnect?.(p.id);
      }
      p.everConnected = true;
      p.probeAfterClose = false;
      p.connectedAtMs = performance.now();
      p.backoffAttempt = 0;
      const clientUrl = this.options.clientUrl;
      socket.write(encodeFrame(clientUrl !== undefined ? { kind: 'hello', clusterId: this.options.clusterId, from: this.options.id, clientUrl } : { kind: 'hello', clusterId: this.options.clusterId, from: this.options.id }));
      this.flushPeer(p);
    });
    socket.on('drain', () => {
      if (p.socket !== socket) return;
      p.waitingDrain = false;
      this.flushPeer(p);
    });
    socket.on('data', (chunk: Buffer) => {
      // Pongs travel back on our outgoing connection, and messages from a peer that does not
      // dial us (see replyOnIncoming) — only ones that peer sent, addressed to us.
      const res = p.decoder?.push(chunk);
      if (!res) return;
      for (const f of res.frames) {
        if (f.kind === 'pong' && f.nonce === p.pingNonce && p.pingSentAt > 0) {
          const rtt = performance.now() - p.pingSentAt;
          p.pingSentAt = 0;
          this.stats(p.id).rttMs = rtt;
          this.options.observer?.onRtt?.(p.id, rtt);
        } else if (f.kind === 'message' && f.message.from === p.id && f.message.to === this.options.id && p.socket === socket) {
          this.deliver(p.id, f.message);
        }
      }
      if (!res.ok) {
        this.logger.warn({ event: 'transport.bad_frame', peer: p.id, direction: 'outgoing', err: res.error }, 'garbage from peer; closing connection');
        socket.destroy();
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // 'close' follows; connection errors are routine while a peer restarts.
      if (p.socket === socket && !p.connected && p.probeAfterClose && err.code === 'ECONNREFUSED') {
        p.probeAfterClose = false;
        this.options.observer?.onPeerGone?.(p.id);
      }
    });
    socket.on('close', () => {
      if (p.socket !== socket) return;
      const wasStable = p.connected && performance.now() - p.connectedAtMs >= this.b.goneProbeMinConnectionMs;
      p.connectedAtMs = 0;
      p.socket = null;
      p.connected = false;
      p.decoder = null;
      p.waitingDrain = false;
      if (p.partialTransfer !== 0) this.purgeTransfer(p, p.partialTransfer);
      if (this.closed || this.peers.get(p.id) !== p) return;
      // After a stable connection closes, reconnect once even with nothing queued: a refusal
      // then says the peer's process is gone (onPeerGone), which lets followers of a crashed leader
      // campaign early. Otherwise connections are only re-made on demand.
      if (wasStable) p.probeAfterClose = true;
      if (p.queue.length > p.queueHead || wasStable) this.scheduleReconnect(p);
    });
  }

  private scheduleReconnect(p: Peer): void {
    if (p.reconnectTimer) return;
    const exp = Math.min(this.b.reconnectMaxMs, this.b.reconnectBaseMs * 2 ** Math.min(p.backoffAttempt, 20));
    const delay = exp * (0.5 + Math.random() * 0.5);
    p.backoffAttempt++;
    p.reconnectTimer = setTimeout(() => {
      p.reconnectTimer = null;
      if (!p.socket) this.connect(p);
    }, delay);
    p.reconnectTimer.unref();
  }

  /** Drops the queued rest of a snapshot transfer that cannot complete (its header went to a dead connection). */
  private purgeTransfer(p: Peer, transferId: number): void {
    p.partialTransfer = 0;
    const keep: QueueItem[] = [];
    for (let i = p.queueHead; i < p.queue.length; i++) {
      const it = p.queue[i] as QueueItem;
      if (it.transferId === transferId) {
        p.queuedSnapshotBytes -= it.bytes.length;
        p.queuedMessages -= it.messages;
      } else keep.push(it);
    }
    p.queue = keep;
    p.queueHead = 0;
    if (p.queuedSnapshotBytes < 0) p.queuedSnapshotBytes = 0;
    this.drop(p.id, 'disconnected');
  }

  private purgeQueue(p: Peer): void {
    for (let i = p.queueHead; i < p.queue.length; i++) if ((p.queue[i] as QueueItem).messages) this.drop(p.id, 'disconnected');
    p.queue = [];
    p.queueHead = 0;
    p.queuedMessages = 0;
    p.queuedBytes = 0;
    p.queuedSnapshotBytes = 0;
  }

  private flushPeer(p: Peer): void {
    const socket = p.socket;
    if (!socket || !p.connected || p.waitingDrain || socket.destroyed) return;
    if (p.queueHead >= p.queue.length) return;
    let messages = 0;
    let bytes = 0;
    socket.cork();
    let ok = true;
    while (p.queueHead < p.queue.length && ok) {
      const it = p.queue[p.queueHead++] as QueueItem;
      if (it.transferId !== 0) {
        p.queuedSnapshotBytes -= it.bytes.length;
        p.partialTransfer = it.lastOfTransfer ? 0 : it.transferId;
      } else {
        p.queuedBytes -= it.bytes.length;
      }
      p.queuedMessages -= it.messages;
      messages += it.messages;
      bytes += it.bytes.length;
      ok = socket.write(it.bytes) && socket.writableLength < this.b.maxSocketBufferBytes;
    }
    socket.uncork();
    if (p.queueHead >= p.queue.length) {
      p.queue = [];
      p.queueHead = 0;
    } else if (p.queueHead > 1024) {
      p.queue = p.queue.slice(p.queueHead);
      p.queueHead = 0;
    }
    if (!ok) p.waitingDrain = true;
    const s = this.stats(p.id);
    s.sentMessages += messages;
    s.sentBytes += bytes;
    if (messages || bytes) this.options.observer?.onSent?.(p.id, messages, bytes);
  }

  private pingAll(): void {
    for (const p of this.peers.values()) {
      if (!p.connected || !p.socket || p.waitingDrain) continue;
      p.pingNonce = (p.pingNonce + 1) % 0x7fffffff;
      p.pingSentAt = performance.now();
      p.socket.write(encodeFrame({ kind: 'ping', nonce: p.pingNonce }));
    }
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn: Incoming = {
      socket,
      decoder: new FrameDecoder({ maxFrameBytes: this.b.maxFrameBytes }),
      from: null,
      helloTimer: null,
      transfer: null,
    };
    this.incoming.add(conn);
    conn.helloTimer = setTimeout(() => this.reject(conn, 'transport.hello_timeout', 'no hello from peer in time', {}), this.b.helloTimeoutMs);
    conn.helloTimer.unref();
    socket.on('data', (chunk: Buffer) => this.onIncomingData(conn, chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (conn.helloTimer) clearTimeout(conn.helloTimer);
      this.incoming.delete(conn);
    });
  }

  private reject(conn: Incoming, event: string, msg: string, extra: Record<string, unknown>): void {
    if (conn.socket.destroyed) return;
    this.logger.warn({ event, remote: `${conn.socket.remoteAddress}:${conn.socket.remotePort}`, peer: conn.from, ...extra }, msg);
    conn.socket.destroy();
  }

  private onIncomingData(conn: Incoming, chunk: Buffer): void {
    if (conn.socket.destroyed) return;
    const res = conn.decoder.push(chunk);
    for (const f of res.frames) {
      if (!this.onFrame(conn, f)) return;
    }
    if (conn.from) {
      const s = this.stats(conn.from);
      s.receivedBytes += chunk.length;
    }
    if (!res.ok) this.reject(conn, 'transport.bad_frame', 'garbage or oversize frame from peer; closing that connection', { err: res.error });
  }

  /** Handles one incoming frame; false when the connection was closed. */
  private onFrame(conn: Incoming, f: Frame): boolean {
    if (conn.from === null) {
      if (f.kind !== 'hello') {
        this.reject(conn, 'transport.no_hello', 'first frame is not a hello; closing', { frame: f.kind });
        return false;
      }
      if (f.clusterId !== this.options.clusterId) {
        this.reject(conn, 'transport.cluster_mismatch', 'peer belongs to another cluster; closing', { theirCluster: f.clusterId, ourCluster: this.options.clusterId, theirId: f.from });
        return false;
      }
      conn.from = f.from;
      if (conn.helloTimer) clearTimeout(conn.helloTimer);
      conn.helloTimer = null;
      this.options.observer?.onHello?.(f.from, f.clientUrl !== undefined ? { clientUrl: f.clientUrl } : {});
      return true;
    }
    const from = conn.from;
    switch (f.kind) {
      case 'hello':
        this.reject(conn, 'transport.bad_frame', 'second hello on a connection; closing', {});
        return false;
      case 'ping':
        conn.socket.write(encodeFrame({ kind: 'pong', nonce: f.nonce }));
        return true;
      case 'pong':
        return true;
      case 'message':
        if (f.message.from !== from) {
          this.reject(conn, 'transport.bad_frame', 'message sender differs from the connection hello; closing', { claimed: f.message.from });
          return false;
        }
        this.deliver(from, f.message);
        return true;
      case 'snapshotHeader':
        if (f.message.from !== from || f.totalBytes > this.b.maxSnapshotBytes) {
          this.reject(conn, 'transport.bad_snapshot', 'snapshot header refused (sender or size); closing', { totalBytes: f.totalBytes, max: this.b.maxSnapshotBytes });
          return false;
        }
        conn.transfer = { id: f.transferId, message: f.message, total: f.totalBytes, chunks: [], received: 0 };
        if (f.totalBytes === 0) this.finishTransfer(conn, from);
        return true;
      case 'snapshotChunk': {
        const t = conn.transfer;
        if (!t || t.id !== f.transferId || f.offset !== t.received || t.received + f.data.length > t.total) {
          this.reject(conn, 'transport.bad_snapshot', 'snapshot chunk out of order or oversize; closing', { transferId: f.transferId, offset: f.offset });
          return false;
        }
        t.chunks.push(f.data);
        t.received += f.data.length;
        if (t.received === t.total) this.finishTransfer(conn, from);
        return true;
      }
    }
  }

  private finishTransfer(conn: Incoming, from: NodeId): void {
    const t = conn.transfer;
    conn.transfer = null;
    if (!t) return;
    const data = new Uint8Array(t.total);
    let off = 0;
    for (const c of t.chunks) {
      data.set(c, off);
      off += c.length;
    }
    this.deliver(from, { ...t.message, snapshotData: data });
  }

  private deliver(from: NodeId, m: Message): void {
    if (this.closed) return;
    const s = this.stats(from);
    s.receivedMessages++;
    if (this.dropIn.has(from)) {
      s.droppedByFault++;
      this.options.observer?.onDropped?.(from, 'fault');
      return;
    }
    this.options.observer?.onReceived?.(from, 1, 0);
    try {
      this.onMessage?.(m);
    } catch (err) {
      this.logger.warn({ event: 'transport.handler_threw', peer: from, err: (err as Error).message }, 'onMessage threw; message dropped');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const p of this.peers.values()) {
      if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
      p.reconnectTimer = null;
      p.socket?.destroy();
      p.socket = null;
    }
    for (const c of this.incoming) c.socket.destroy();
    this.incoming.clear();
    // Handshaking sockets are not in `incoming` yet; server.close() would wait for them.
    for (const s of this.acceptedSockets) s.destroy();
    this.acceptedSockets.clear();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Exposed for benchmarks: encodes many frames into one buffer (what a corked flush amounts to). */
export function encodeFramesInto(frames: readonly Frame[]): Uint8Array {
  const w = new ByteWriter(1024);
  for (const f of frames) writeFrame(w, f);
  return w.finish();
}
