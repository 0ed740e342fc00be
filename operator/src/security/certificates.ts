// The cluster CA and member certificates the operator generates for `spec.tls.enabled` without a
// secretName: ECDSA P-256, made with @peculiar/x509 over node's webcrypto (no openssl binary in
// the image). Checks of existing material use node:crypto's X509Certificate, the same parser the
// daemons' TLS stack uses, so "valid here" means "loads there".
import 'reflect-metadata'; // @peculiar/x509's DI container needs it loaded before the library
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

// Node's webcrypto is the provider (the library's type is the DOM `Crypto`, which this build does not load).
x509.cryptoProvider.set(webcrypto);

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** notBefore is set this far in the past, so a member whose clock lags a little accepts a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** Lifetimes of what the operator issues. */
export interface CertificateLifetimes {
  /** The self-signed cluster CA (not renewed by the operator; see docs/security.md). */
  readonly caValidityMs: number;
  /** Member certificates; renewed when less than a third of this remains. */
  readonly memberValidityMs: number;
}

/** 10-year CA, 1-year member certificates. */
export const DEFAULT_CERTIFICATE_LIFETIMES: CertificateLifetimes = { caValidityMs: 10 * 365 * 86_400_000, memberValidityMs: 365 * 86_400_000 };

/** A certificate and its private key, both PEM (key: PKCS#8). */
export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Material that cannot be used; the message names what is wrong, never key bytes. */
export class CertificateMaterialError extends Error {
  override readonly name = 'CertificateMaterialError';
}

function serial(): string {
  // 16 random bytes, top bit cleared: a positive INTEGER as RFC 5280 asks.
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify']);
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Generates a self-signed CA named `commonName`, valid from `nowMs` (minus clock skew) for `validityMs`. */
export async function generateCa(commonName: string, nowMs: number, validityMs: number): Promise<PemPair> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(nowMs - CLOCK_SKEW_MS),
    notAfter: new Date(nowMs + validityMs),
    keys,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await pkcs8Pem(keys.privateKey) };
}

/**
 * Issues a member certificate for `names` (DNS names, wildcards allowed, and IP addresses), signed
 * by `ca`, with serverAuth + clientAuth: one certificate serves as peer server, peer client and
 * HTTPS server (docs/security.md).
 * @throws CertificateMaterialError when the CA's key cannot be read.
 */
export async function issueMemberCertificate(ca: PemPair, commonName: string, names: readonly string[], nowMs: number, validityMs: number): Promise<PemPair> {
  let caKey: webcrypto.CryptoKey;
  let caCert: x509.X509Certificate;
  try {
    // Re-export through node:crypto so a SEC1 ("EC PRIVATE KEY") CA key imports as well as PKCS#8.
    const der = createPrivateKey(ca.keyPem).export({ format: 'der', type: 'pkcs8' });
    caKey = await webcrypto.subtle.importKey('pkcs8', der, EC_ALG, false, ['sign']);
    caCert = new x509.X509Certificate(ca.certPem);
  } catch (err) {
    throw new CertificateMaterialError(`the CA certificate or key cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [commonName] }],
    issuer: caCert.subject,
    notBefore: new Date(nowMs - CLOCK_SKEW_MS),
    notAfter: new Date(nowMs + validityMs),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) === 0 ? { type: 'dns' as const, value: n } : { type: 'ip' as const, value: n }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await pkcs8Pem(keys.privateKey) };
}

/** What the operator checks of a certificate it holds. */
export interface CertificateFacts {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** DNS names and IP addresses of the subjectAltName. */
  readonly names: readonly string[];
  readonly isCa: boolean;
}

/** The first PEM certificate of `pem`, parsed; CertificateMaterialError naming `what` otherwise. */
export function parseCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new CertificateMaterialError(`${what} is not a PEM certificate (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Validity and names of a parsed certificate. */
export function certificateFacts(cert: X509Certificate): CertificateFacts {
  const names = (cert.subjectAltName ?? '').split(/,\s*/).flatMap((entry) => {
    const m = /^(DNS|IP Address):(.+)$/.exec(entry.trim());
    return m === null ? [] : [m[2] ?? ''];
  });
  return { notBeforeMs: Date.parse(cert.validFrom), notAfterMs: Date.parse(cert.validTo), names, isCa: cert.ca };
}

/**
 * Checks that `pair` is a usable certificate + key: both parse and the key belongs to the
 * certificate. Returns the parsed certificate.
 * @throws CertificateMaterialError naming `what` (never the key).
 */
export function checkPair(pair: PemPair, what: string): X509Certificate {
  const cert = parseCertificate(pair.certPem, `${what} certificate`);
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(pair.keyPem));
  } catch {
    throw new CertificateMaterialError(`${what} private key is not a PEM private key`);
  }
  if (!matches) throw new CertificateMaterialError(`${what} private key does not belong to its certificate`);
  return cert;
}

/** True when `leaf` was signed by `ca` (issuer name matches and the signature verifies). */
export function chainsTo(leaf: X509Certificate, ca: X509Certificate): boolean {
  return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
}

/** Why a member certificate must be (re-)issued, or undefined when it is fine as it is. */
export type RenewalReason = 'expiring' | 'not-yet-valid' | 'other-ca' | 'names-changed';

/**
 * The renewal decision: a member certificate is re-issued when less than a third of its lifetime
 * remains (a 1-year certificate in its last ~4 months), when it is not valid yet, when another CA
 * signed it, or when its subjectAltName misses a name members and clients use.
 */
export function renewalReason(leaf: X509Certificate, ca: X509Certificate, wantNames: readonly string[], nowMs: number): RenewalReason | undefined {
  const f = certificateFacts(leaf);
  if (!chainsTo(leaf, ca)) return 'other-ca';
  const have = new Set(f.names.map((n) => n.toLowerCase()));
  if (wantNames.some((n) => !have.has(n.toLowerCase()))) return 'names-changed';
  if (nowMs < f.notBeforeMs) return 'not-yet-valid';
  const lifetime = f.notAfterMs - f.notBeforeMs;
  if (f.notAfterMs - nowMs < lifetime / 3) return 'expiring';
  return undefined;
}
