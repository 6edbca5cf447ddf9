import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { BootportError } from '../format/errors.js';

/** The etcd cluster a multi-head store's catalog is in, and the shared directory of its blobs. */
export interface EtcdLocation {
  kind: 'etcd';
  /** Client URLs of the members, http:// or https://. */
  hosts: string[];
  /** Every key of this catalog starts with this, ending in '/'. */
  prefix: string;
  /** The blob directory every head node mounts (NFS, Lustre, …). */
  dir: string;
  /** PEM files for TLS: the CA that signed the members' certificates, and a client certificate. */
  tls?: { ca: string; cert?: string; key?: string };
  /** etcd's own user and password authentication. */
  auth?: { user: string; password: string };
  /** Seconds an importer's lease lives without a keep-alive: how soon a dead importer's staging may be collected. */
  leaseTtl: number;
  /** The URL without secrets, for messages. */
  display: string;
}

export type StoreLocation = { kind: 'sqlite'; dir: string } | EtcdLocation;

const URL_RE = /^(etcds?):\/\/(?:([^@/?]+)@)?([^/?]+)(\/[^?]*)?(?:\?(.*))?$/;
const QUERY_KEYS = new Set(['blobs', 'cacert', 'cert', 'key', 'password-file', 'lease-ttl']);

/**
 * `--store`, else BOOTPORT_STORE, else /var/lib/bootport for root (a head node's service data),
 * else the XDG data directory, so an ordinary user can try bootport without privileges. A value
 * `etcd://host:port[,host:port…]/PREFIX?blobs=/shared/path` (or `etcds://` for TLS) puts the
 * catalog in etcd.
 */
export function storeLocation(env: NodeJS.ProcessEnv, cwd: string, explicit?: string): StoreLocation {
  const v = explicit || env.BOOTPORT_STORE;
  if (v && /^etcds?:\/\//.test(v)) return parseEtcdUrl(v, env, cwd);
  if (v) return { kind: 'sqlite', dir: resolve(cwd, v) };
  if (process.getuid?.() === 0) return { kind: 'sqlite', dir: '/var/lib/bootport' };
  const xdg = env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/') ? env.XDG_DATA_HOME : join(env.HOME ?? homedir(), '.local', 'share');
  return { kind: 'sqlite', dir: join(xdg, 'bootport') };
}

/**
 * Parses an etcd store URL. The password never goes in the URL (it would show in `ps`): it is
 * read from `password-file=`, else from BOOTPORT_ETCD_PASSWORD.
 */
export function parseEtcdUrl(url: string, env: NodeJS.ProcessEnv, cwd: string): EtcdLocation {
  const m = URL_RE.exec(url);
  const bad = (why: string) =>
    new BootportError(
      'ERR_USAGE',
      `bad etcd store URL ${JSON.stringify(redact(url))}: ${why}`,
      {},
      'the form is etcd://HOST:PORT[,HOST:PORT…]/PREFIX?blobs=/shared/dir (etcds:// for TLS)',
    );
  if (!m) throw bad('it does not parse');
  const [, scheme, user, hostList, path, query] = m as unknown as [string, string, string | undefined, string, string | undefined, string | undefined];
  if (user?.includes(':')) throw bad('a password may not be given in the URL; use password-file= or BOOTPORT_ETCD_PASSWORD');
  const tls = scheme === 'etcds';
  const hosts = hostList.split(',').map((h) => {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/.test(h)) throw bad(`${JSON.stringify(h)} is not HOST:PORT`);
    return `${tls ? 'https' : 'http'}://${h}`;
  });
  const name = (path ?? '').replace(/^\/+|\/+$/g, '') || 'bootport';
  if (!/^[A-Za-z0-9._/-]+$/.test(name) || name.split('/').some((s) => s === '' || s === '.' || s === '..'))
    throw bad(`the prefix ${JSON.stringify(name)} is not a clean path`);
  const params = new URLSearchParams(query ?? '');
  for (const k of params.keys()) if (!QUERY_KEYS.has(k)) throw bad(`unknown option ${k}= (known: ${[...QUERY_KEYS].join(', ')})`);
  const blobs = params.get('blobs');
  if (!blobs) throw bad('blobs= must name the shared blob directory');
  const file = (k: string) => {
    const v = params.get(k);
    return v ? (isAbsolute(v) ? v : resolve(cwd, v)) : undefined;
  };
  const ca = file('cacert');
  const cert = file('cert');
  const key = file('key');
  if ((cert === undefined) !== (key === undefined)) throw bad('cert= and key= go together');
  if (!tls && (ca || cert)) throw bad('cacert=, cert= and key= need etcds://');
  let auth: EtcdLocation['auth'];
  if (user) {
    const pf = file('password-file');
    let password = env.BOOTPORT_ETCD_PASSWORD;
    if (pf) {
      try {
        password = readFileSync(pf, 'utf8').replace(/\r?\n$/, '');
      } catch (e) {
        throw new BootportError('ERR_USAGE', `cannot read the etcd password file ${pf}: ${(e as Error).message}`);
      }
    }
    if (password === undefined) throw bad(`user ${user} needs a password: password-file= or BOOTPORT_ETCD_PASSWORD`);
    auth = { user: decodeURIComponent(user), password };
  }
  const ttl = Number(params.get('lease-ttl') ?? 10);
  if (!Number.isInteger(ttl) || ttl < 2 || ttl > 3600) throw bad('lease-ttl= must be a whole number of seconds from 2 to 3600');
  return {
    kind: 'etcd',
    hosts,
    prefix: `${name}/`,
    dir: resolve(cwd, blobs),
    ...(tls ? { tls: { ca: ca ?? '', ...(cert ? { cert } : {}), ...(key ? { key } : {}) } } : {}),
    ...(auth ? { auth } : {}),
    leaseTtl: ttl,
    display: redact(url),
  };
}

/** A URL as it may be shown: without a password, if someone put one in anyway. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/:]+):[^@/]*@/, '//$1:***@');
}
