/** The optimistic transaction of the etcd catalog, on snapshots in memory: what it reads, writes and compares. */
import { describe, expect, it } from 'vitest';
import { advanced, EtcdTx, snapshotOf, type Entry, type Snapshot } from '../../../../src/store/backend/etcd/etcd-tx.js';
import type { BootConfigRow, ImageRow } from '../../../../src/store/backend/tx.js';

const P = 'p/';
const t = '2026-01-01T00:00:00.000Z';
const image = (uid: string, name: string, content: string): ImageRow => ({
  uid,
  name,
  content,
  size: 1,
  description: '',
  distro: '',
  parent: '',
  frozen: 0,
  created: t,
  modified: t,
});
const bc = (uid: string, name: string, kernel: string, initramfs: string, img: string | null): BootConfigRow => ({
  uid,
  name,
  kernel,
  kernel_name: 'k',
  initramfs,
  initramfs_name: 'i',
  cmdline: '',
  image: img,
  boot_style: 'rwram',
  description: '',
  frozen: 0,
  release: null,
  attributes: '{}',
  created: t,
  modified: t,
});
const D1 = `blake3:${'1'.repeat(64)}`;
const D2 = `blake3:${'2'.repeat(64)}`;

/** A snapshot made by committing `fn`'s writes onto an empty catalog at revision 10. */
function seeded(fn: (tx: EtcdTx) => void): Snapshot {
  const tx = new EtcdTx(snapshotOf(P, 9, []), P, true);
  fn(tx);
  return advanced(P, snapshotOf(P, 9, []), 10, tx.commitPlan('n').puts)!;
}

const base = () =>
  seeded((tx) => {
    tx.insert('blobs', { digest: D1, size: 1 });
    tx.insert('blobs', { digest: D2, size: 1 });
    tx.insert('images', image('i1', 'img', D1));
    tx.insert('boot_configs', bc('b1', 'boot', D2, D2, 'i1'));
  });

const value = (s: Snapshot, k: string) => s.kv.get(`${P}${k}`)?.value;

describe('EtcdTx', () => {
  it('keeps the name index and the referrers lists beside the rows', () => {
    const s = base();
    expect(value(s, 'names/images/img')).toBe('i1');
    expect(JSON.parse(value(s, 'refs/blobs/' + D1)!)).toEqual(['images/i1']);
    // A kernel that is also the initramfs is one referrer, and stays one until neither refers.
    expect(JSON.parse(value(s, 'refs/blobs/' + D2)!)).toEqual(['boot_configs/b1']);
    expect(JSON.parse(value(s, 'refs/images/i1')!)).toEqual(['boot_configs/b1']);
    const tx = new EtcdTx(s, P, true);
    expect(tx.referrers('images', 'i1').map((r) => r.row.name)).toEqual(['boot']);
    tx.update('boot_configs', { ...bc('b1', 'boot2', D1, D2, null) });
    const after = advanced(P, s, 11, tx.commitPlan('m').puts)!;
    expect(value(after, 'names/boot_configs/boot')).toBeUndefined();
    expect(value(after, 'names/boot_configs/boot2')).toBe('b1');
    expect(value(after, 'refs/images/i1')).toBeUndefined();
    expect(JSON.parse(value(after, 'refs/blobs/' + D1)!)).toEqual(['boot_configs/b1', 'images/i1']);
    expect(JSON.parse(value(after, 'refs/blobs/' + D2)!)).toEqual(['boot_configs/b1']);
  });

  it('refuses what SQLite’s constraints refuse: a taken name, a dangling reference, removing what is referred to', () => {
    const tx = new EtcdTx(base(), P, true);
    expect(() => tx.insert('images', image('i2', 'img', D1))).toThrow(/already has a row named img/);
    expect(() => tx.insert('images', image('i3', 'other', `blake3:${'9'.repeat(64)}`))).toThrow(/does not exist/);
    expect(() => tx.remove('images', 'i1')).toThrow(/still referred to by boot_configs\/b1/);
    expect(() => tx.remove('blobs', D1)).toThrow(/still referred to/);
  });

  it('compares every key it read, absent ones as revision 0, and writes the touched tables’ generations', () => {
    const s = base();
    const tx = new EtcdTx(s, P, true);
    expect(tx.byName('images', 'nope')).toBeUndefined();
    tx.insert('images', image('i9', 'new', D1));
    const { compares, puts } = tx.commitPlan('nonce');
    expect(compares).toContainEqual({ key: `${P}names/images/nope`, mod: 0 });
    expect(compares).toContainEqual({ key: `${P}names/images/new`, mod: 0 });
    expect(compares).toContainEqual({ key: `${P}refs/blobs/${D1}`, mod: 10 });
    expect(puts.get(`${P}gen/images`)).toBe('nonce');
    expect(puts.get(`${P}gen/blobs`)).toBe('nonce');
    // A listing is a range read: it compares the table's generation, which every change rewrites.
    const lister = new EtcdTx(s, P, false);
    expect(lister.all('images').map((r) => r.name)).toEqual(['img']);
    expect(lister.commitPlan('x').compares).toContainEqual({ key: `${P}gen/images`, mod: 10 });
  });

  it('checks a large read set by table generations, within one transaction’s limits', () => {
    const s = seeded((tx) => {
      for (let i = 0; i < 300; i++)
        tx.insert('nodes', { uid: `u${String(i).padStart(3, '0')}`, name: `n${i}`, mac: null, attributes: '{}', created: t, modified: t, boot_config: null });
    });
    const tx = new EtcdTx(s, P, true);
    for (let i = 0; i < 300; i++) tx.update('nodes', { ...tx.get('nodes', `u${String(i).padStart(3, '0')}`)!, attributes: '{"rack":"1"}' });
    const { compares } = tx.commitPlan('n');
    expect(compares.length).toBeLessThan(100);
    expect(compares).toContainEqual({ key: `${P}gen/nodes`, mod: 10 });
  });

  it('sees its own writes, and lists them in order', () => {
    const tx = new EtcdTx(base(), P, true);
    tx.insert('images', image('i0', 'aaa', D1));
    tx.remove('boot_configs', 'b1');
    expect(tx.all('images').map((r) => r.name)).toEqual(['aaa', 'img']);
    expect(tx.all('boot_configs')).toEqual([]);
    expect(tx.byKeyPrefix('images', 'i', 5).map((r) => r.uid)).toEqual(['i0', 'i1']);
  });

  it('carries a snapshot past a change only when that change was the next revision', () => {
    const s = base();
    expect(advanced(P, s, 11, new Map())).toBeDefined();
    expect(advanced(P, s, 12, new Map())).toBeUndefined();
    const kv: [string, Entry][] = [[`${P}pins/x/1`, { value: '', mod: 3 }]];
    expect(snapshotOf(P, 3, kv).kv.size).toBe(0);
  });

  it('cannot write in a read transaction', () => {
    const tx = new EtcdTx(base(), P, false);
    expect(() => tx.insert('images', image('i5', 'x', D1))).toThrow(/read-only/);
  });
});
