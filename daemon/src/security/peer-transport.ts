// Peer mutual TLS whose certificates rotate without a restart. The TcpTransport swaps its TLS
// material in place (setTls): the listener keeps its port, so peers never see a refused
// connection during a rotation, and every open connection is re-made with the new material —
// the CA rotation case needs exactly that (connections verified against the old CA must not
// outlive it). Raft tolerates the messages lost while connections are re-made.
import type { TcpTransport, TransportTlsOptions } from '../transport/tcp-transport.js';
import type { ReloadableTls, TlsMaterial } from './tls-material.js';

/** Logger subset. */
export interface PeerTransportLogger {
  info(obj: Record<string, unknown>, msg: string): void;
}

/** TLS options for TcpTransport from material: mutual TLS, peers verified against the peer CA. */
export function transportTlsOf(m: TlsMaterial): TransportTlsOptions {
  return m.ca !== undefined
    ? { key: m.key, cert: m.cert, ca: m.ca, requestCert: true, rejectUnauthorized: true }
    : { key: m.key, cert: m.cert, requestCert: true, rejectUnauthorized: true };
}

/** What followPeerTlsRotation reports. */
export interface PeerTlsRotation {
  /** Rotations applied so far. */
  readonly rotations: number;
}

/**
 * Keeps `transport` (started with `transportTlsOf(tls.current)`) on the material `tls` reloads.
 * A rotation that cannot be applied throws into ReloadableTls, which logs it; the transport then
 * keeps the material it had.
 */
export function followPeerTlsRotation(transport: TcpTransport, tls: ReloadableTls, log: PeerTransportLogger): PeerTlsRotation {
  const state = { rotations: 0 };
  tls.onChange((m) => {
    transport.setTls(transportTlsOf(m));
    state.rotations++;
    log.info({ rotations: state.rotations }, 'peer transport now uses the rotated certificates; peer connections re-made');
  });
  return state;
}
