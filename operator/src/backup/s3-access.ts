// How the operator itself reaches a cluster's S3 store (RaftBackup): the same settings the pods
// get from build/s3.ts, with the credentials and CA read from their Secrets instead of env vars.
// The daemon's backup store code (daemon/src/backup) does the transfer, so the operator and
// raftctl write identical objects.
import type { V1Secret } from '@kubernetes/client-node';
import type { S3Connection } from '../api/types.js';
import type { S3Options } from '../../../daemon/src/backup/s3-options.js';
import { DEFAULT_ACCESS_KEY_ID_KEY, DEFAULT_SECRET_ACCESS_KEY_KEY, S3_CA_FILE } from '../build/s3.js';
import { secretText } from '../controllers/security.js';
import type { KubeClient, KubeObject } from '../kube/rest.js';
import { resourcePath } from '../kube/rest.js';

/** A Secret or key the S3 settings name is missing; the message names them, never their values. */
export class S3AccessError extends Error {
  override readonly name = 'S3AccessError';
}

async function readKey(client: KubeClient, namespace: string, name: string, key: string, what: string): Promise<string> {
  const secret = await client.get<V1Secret & KubeObject>(resourcePath('v1', 'Secret', namespace, name));
  if (secret === undefined) throw new S3AccessError(`${what}: Secret ${namespace}/${name} not found`);
  const v = secretText(secret, key);
  if (v === undefined) throw new S3AccessError(`${what}: Secret ${namespace}/${name} has no key ${key}`);
  return v;
}

/** S3Options for `conn` in `namespace`: endpoint, region, path style, and credentials / CA from their Secrets. */
export async function s3OptionsForConnection(client: KubeClient, namespace: string, conn: S3Connection): Promise<S3Options> {
  const creds = conn.credentialsSecret;
  const credentials = creds === undefined ? undefined : {
    accessKeyId: (await readKey(client, namespace, creds.name, creds.accessKeyIdKey ?? DEFAULT_ACCESS_KEY_ID_KEY, 'S3 credentials')).trim(),
    secretAccessKey: (await readKey(client, namespace, creds.name, creds.secretAccessKeyKey ?? DEFAULT_SECRET_ACCESS_KEY_KEY, 'S3 credentials')).trim(),
  };
  const caPem = conn.caSecret === undefined ? undefined : await readKey(client, namespace, conn.caSecret.name, conn.caSecret.key ?? S3_CA_FILE, 'S3 CA bundle');
  return {
    endpoint: conn.endpoint ?? null, region: conn.region ?? null, pathStyle: conn.forcePathStyle ?? null, caFile: null,
    ...(credentials === undefined ? {} : { credentials }), ...(caPem === undefined ? {} : { caPem }),
  };
}
