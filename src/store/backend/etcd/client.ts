import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Etcd3, IOptions } from 'etcd3';
import { BootportError } from '../../../format/errors.js';
import type { EtcdLocation } from '../../location.js';

/** Each call to etcd gives up after this long: a cluster without a quorum never answers. */
export const CALL_TIMEOUT_MS = 5_000;

/** The etcd client, loaded on first use: commands on a SQLite store never load gRPC. */
export function connect(loc: EtcdLocation): Etcd3 {
  const { Etcd3: Client } = createRequire(import.meta.url)('etcd3') as typeof import('etcd3');
  const opts: IOptions = {
    hosts: loc.hosts,
    dialTimeout: CALL_TIMEOUT_MS,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
  };
  if (loc.tls) {
    const pem = (what: string, path: string | undefined) => {
      if (path === undefined) return undefined;
      try {
        return readFileSync(path);
      } catch (e) {
        throw new BootportError('ERR_USAGE', `cannot read the etcd ${what} ${path}: ${(e as Error).message}`);
      }
    };
    const ca = pem('CA certificate', loc.tls.ca || undefined);
    const cert = pem('client certificate', loc.tls.cert);
    const key = pem('client key', loc.tls.key);
    // Without cacert=, the system's trusted CAs are used.
    opts.credentials = { rootCertificate: ca ?? Buffer.alloc(0), ...(cert ? { certChain: cert } : {}), ...(key ? { privateKey: key } : {}) };
  }
  if (loc.auth) opts.auth = { username: loc.auth.user, password: loc.auth.password };
  return new Client(opts);
}

/**
 * An error of the etcd client as a coded one. A cluster that does not answer (every member down,
 * or no quorum: requests time out) is ERR_STORE_UNAVAILABLE; the catalog code decides, for each
 * failed write, whether anything was committed.
 */
export function etcdError(e: unknown, what: string, loc: EtcdLocation): BootportError {
  if (e instanceof BootportError) return e;
  const name = (e as Error).constructor?.name ?? '';
  const msg = (e as Error).message ?? String(e);
  if (/AuthenticationFailed|PermissionDenied|InvalidAuthToken|Unauthenticated/.test(name) || /authentication failed|permission denied/i.test(msg))
    return new BootportError(
      'ERR_STORE',
      `${what}: etcd at ${loc.display} refused bootport's credentials: ${msg}`,
      {},
      'check the user, password and certificates given in the store URL',
      {
        cause: e,
      },
    );
  if (/too many operations in txn/.test(msg))
    return new BootportError(
      'ERR_STORE',
      `${what}: the change is larger than one etcd transaction may be (etcd allows 128 operations unless its max-txn-ops setting is raised); nothing was changed`,
      {},
      "change fewer objects at once, or raise etcd's max-txn-ops setting",
      { cause: e },
    );
  if (/request is too large|message larger than max/.test(msg))
    return new BootportError(
      'ERR_STORE',
      `${what}: the change is larger than one etcd request may be`,
      {},
      "change fewer objects at once, or raise etcd's max-request-bytes setting",
      { cause: e },
    );
  if (/Unavailable|DeadlineExceeded|ConnectFailed|Cancelled|ClientClosed/.test(name) || /timed out|no leader|unavailable|ECONNREFUSED|deadline/i.test(msg))
    return new BootportError(
      'ERR_STORE_UNAVAILABLE',
      `${what}: the etcd cluster at ${loc.display} did not answer (${msg.split('\n')[0]})`,
      {},
      'check that most of its members are up (etcdctl endpoint health); then run the command again',
      { cause: e },
    );
  return new BootportError('ERR_STORE', `${what}: etcd at ${loc.display}: ${msg}`, {}, undefined, { cause: e });
}
