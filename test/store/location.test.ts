/** Where the store is: a directory, or an etcd URL with its options, parsed strictly. */
import { describe, expect, it } from 'vitest';
import { parseEtcdUrl, storeLocation } from '../../src/store/location.js';
import { codeOf } from '../helpers.js';

describe('storeLocation', () => {
  it('is --store, else BOOTPORT_STORE, as a directory or as an etcd URL', () => {
    expect(storeLocation({}, '/w', 'rel')).toEqual({ kind: 'sqlite', dir: '/w/rel' });
    expect(storeLocation({ BOOTPORT_STORE: '/s' }, '/w')).toEqual({ kind: 'sqlite', dir: '/s' });
    expect(storeLocation({ BOOTPORT_STORE: 'etcd://h:2379/p?blobs=b' }, '/w')).toMatchObject({
      kind: 'etcd',
      hosts: ['http://h:2379'],
      prefix: 'p/',
      dir: '/w/b',
    });
    expect(storeLocation({ BOOTPORT_STORE: '/s' }, '/w', '/explicit')).toEqual({ kind: 'sqlite', dir: '/explicit' });
  });
});

describe('parseEtcdUrl', () => {
  it('takes several members, a prefix of several parts, and TLS files', () => {
    const loc = parseEtcdUrl(
      'etcds://10.0.0.1:2379,10.0.0.2:2379,[fd00::3]:2379/site/a?blobs=/shared&cacert=ca.pem&cert=c.pem&key=c.key&lease-ttl=5',
      {},
      '/etc',
    );
    expect(loc).toMatchObject({
      hosts: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379', 'https://[fd00::3]:2379'],
      prefix: 'site/a/',
      dir: '/shared',
      tls: { ca: '/etc/ca.pem', cert: '/etc/c.pem', key: '/etc/c.key' },
      leaseTtl: 5,
    });
    expect(parseEtcdUrl('etcd://h:1?blobs=/b', {}, '/').prefix).toBe('bootport/');
  });

  it('takes a user, with the password from BOOTPORT_ETCD_PASSWORD, never from the URL', () => {
    expect(parseEtcdUrl('etcd://admin@h:1/p?blobs=/b', { BOOTPORT_ETCD_PASSWORD: 'pw' }, '/').auth).toEqual({ user: 'admin', password: 'pw' });
    expect(() => parseEtcdUrl('etcd://admin:secret@h:1/p?blobs=/b', {}, '/')).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    // The refusal does not repeat the password it found.
    expect(() => parseEtcdUrl('etcd://admin:secret@h:1/p?blobs=/b', {}, '/')).toThrow(
      expect.not.objectContaining({ message: expect.stringContaining('secret') }),
    );
    expect(codeOf(() => parseEtcdUrl('etcd://admin@h:1/p?blobs=/b', {}, '/'))).toBe('ERR_USAGE');
  });

  it('refuses what it cannot mean: no blobs=, an unknown option, half a client certificate, TLS files on plain etcd, a bad prefix or host', () => {
    for (const url of [
      'etcd://h:1/p',
      'etcd://h:1/p?blobs=/b&colour=red',
      'etcds://h:1/p?blobs=/b&cert=c.pem',
      'etcd://h:1/p?blobs=/b&cacert=ca.pem',
      'etcd://h:1/../p?blobs=/b',
      'etcd://h/p?blobs=/b',
      'etcd://h:1/p?blobs=/b&lease-ttl=0',
    ]) {
      expect(
        codeOf(() => parseEtcdUrl(url, {}, '/')),
        url,
      ).toBe('ERR_USAGE');
    }
  });
});
