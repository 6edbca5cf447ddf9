/**
 * TLS and authentication are passed through to the etcd client: a one-member cluster that
 * requires a client certificate signed by its CA, and etcd's own user and password.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdCluster, START_HOOK_MS } from '../../../spec/etcd-cluster.js';
import { bp } from '../helpers.js';

let dir: string;
let cluster: EtcdCluster;
let pki: { ca: string; server: [string, string]; client: [string, string]; stranger: [string, string] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootport-etcd-tls-'));
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  await writeFile(join(dir, 'stranger.ext'), 'extendedKeyUsage=clientAuth\n');
  const ssl = (...a: string[]) => {
    const r = spawnSync('openssl', a, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${a.join(' ')}: ${r.stderr}`);
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  for (const ca of ['ca', 'other-ca']) ssl('req', '-x509', ...key, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=${ca}`);
  for (const [name, signer] of [
    ['server', 'ca'],
    ['client', 'ca'],
    ['stranger', 'other-ca'],
  ] as const) {
    ssl('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'client' ? 'root' : name}`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${signer}.pem`,
      '-CAkey',
      `${signer}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
  const p = (f: string) => join(dir, f);
  pki = {
    ca: p('ca.pem'),
    server: [p('server.pem'), p('server.key')],
    client: [p('client.pem'), p('client.key')],
    stranger: [p('stranger.pem'), p('stranger.key')],
  };
  cluster = await EtcdCluster.start(join(dir, 'etcd'), 1, {
    cert: pki.server[0],
    key: pki.server[1],
    ca: pki.ca,
    client: { cert: pki.client[0], key: pki.client[1] },
  });
}, START_HOOK_MS);
afterAll(async () => {
  cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('an etcd cluster with TLS and authentication', () => {
  it('is used with the CA and a client certificate, and refused without them', async () => {
    const blobs = join(dir, 'blobs');
    const url = cluster.url('tls', blobs, `&cacert=${pki.ca}&cert=${pki.client[0]}&key=${pki.client[1]}`);
    const made = await bp(['node', 'create', 'name=t0', '--store', url], { cwd: dir });
    expect(made.code, made.stderr).toBe(0);
    expect((await bp(['node', 'ls', '--store', url], { cwd: dir })).stdout).toContain('t0');
    // A certificate from another CA, or none, gets nothing.
    const stranger = await bp(['node', 'ls', '--store', cluster.url('tls', blobs, `&cacert=${pki.ca}&cert=${pki.stranger[0]}&key=${pki.stranger[1]}`)], {
      cwd: dir,
      timeoutMs: 60_000,
    });
    expect(stranger.code).toBe(4);
    const plain = await bp(['node', 'ls', '--store', url.replace('etcds://', 'etcd://').replace(/&cacert=.*$/, '')], { cwd: dir, timeoutMs: 60_000 });
    expect(plain.code).toBe(4);
  }, 120_000);

  it('logs in as an etcd user with the password from a file, and names a wrong one', async () => {
    const tls = `&cacert=${pki.ca}&cert=${pki.client[0]}&key=${pki.client[1]}`;
    cluster.ctl('user', 'add', 'root:rootpw');
    cluster.ctl('user', 'add', 'head:headpw');
    cluster.ctl('role', 'add', 'bootport');
    cluster.ctl('role', 'grant-permission', 'bootport', '--prefix=true', 'readwrite', 'auth/');
    cluster.ctl('user', 'grant-role', 'head', 'bootport');
    cluster.ctl('auth', 'enable');
    try {
      await writeFile(join(dir, 'pw'), 'headpw\n', { mode: 0o600 });
      await writeFile(join(dir, 'bad'), 'nope\n', { mode: 0o600 });
      const at = (file: string) => cluster.url('auth', join(dir, 'auth-blobs'), `${tls}&password-file=${join(dir, file)}`).replace('://', '://head@');
      const ok = await bp(['node', 'create', 'name=a0', '--store', at('pw')], { cwd: dir });
      expect(ok.code, ok.stderr).toBe(0);
      const bad = await bp(['node', 'ls', '--store', at('bad')], { cwd: dir, timeoutMs: 60_000 });
      expect(bad.code).toBe(4);
      expect(bad.stderr).toContain('refused');
      // The password in the environment does the same as the file.
      const env = await bp(['node', 'ls', '--store', at('pw').replace(/&password-file=[^&]*/, '')], { cwd: dir, env: { BOOTPORT_ETCD_PASSWORD: 'headpw' } });
      expect(env.stdout).toContain('a0');
    } finally {
      spawnSync('etcdctl', [...cluster.ctlArgs(), '--user=root:rootpw', 'auth', 'disable']);
    }
  }, 120_000);
});
