/**
 * Volume vectors: sets of volumes, good and spoiled, each with the verdict of reading the set
 * (`verify NAME`, given the first volume and finding the rest by name) and of checking each
 * volume alone (`verify NAME.001`). FORMAT.md, "Volumes", is what they test.
 */
import { encodeVolumeHeader, decodeVolumeHeader, splitBundle, VOLUME_HEADER_SIZE, volumeFileName } from '../src/format/volume.js';
import type { Engines } from '../src/stream/engine/engines.js';
import { content, manifest, write } from './vectors.js';

export interface VolumeVector {
  name: string;
  description: string;
  /** File name to bytes; the set is read from `vec.export.001`. */
  files: Record<string, Uint8Array>;
  expect: { set: string; volumes: Record<string, string> };
}

export const VOLUME_BASE = 'vec.export';
/** Small enough that the bundle below makes at least four volumes. */
const SPLIT = 80_000;

export async function makeVolumeVectors(e: Engines): Promise<VolumeVector[]> {
  const blake3 = (b: Uint8Array) => e.hash.digestOf([b]);
  const K = content(3000, 1);
  const I = content(70_000, 2);
  const img = content(400_000, 3);
  const entries = [
    { role: 'kernel' as const, name: 'vmlinuz-6.1.0', size: K.length },
    { role: 'initramfs' as const, name: 'initramfs-6.1.0.img', size: I.length },
    { role: 'image' as const, name: 'vecImage', size: img.length },
  ];
  const m = manifest(entries);
  const vols = splitBundle(await write(e, m, [K, I, img]), SPLIT, m.bundle_id, blake3);
  const other = { ...manifest(entries), bundle_id: '6f1d2c3b-0000-4000-8000-00000000f0e1' };
  const foreign = splitBundle(await write(e, other, [K, I, img]), SPLIT, other.bundle_id, blake3);
  const name = (i: number) => volumeFileName(VOLUME_BASE, i);
  const set = (list: Uint8Array[]) => Object.fromEntries(list.map((b, i) => [name(i + 1), b]));
  const ok = (list: Uint8Array[]) => Object.fromEntries(list.map((_, i) => [name(i + 1), 'ok']));
  /** A volume whose header fields are changed and its check value made right again. */
  const reheader = (v: Uint8Array, change: (h: ReturnType<typeof decodeVolumeHeader>) => void) => {
    const h = decodeVolumeHeader(v, 'v', blake3);
    change(h);
    const out = v.slice();
    out.set(encodeVolumeHeader(h, blake3));
    return out;
  };
  const with2 = (v2: Uint8Array) => [vols[0]!, v2, ...vols.slice(2)];
  const out: VolumeVector[] = [];
  if (vols.length < 4) throw new Error(`expected at least 4 volumes, made ${vols.length}`);

  out.push({
    name: 'ok',
    description: 'a bundle in several volumes, each cut where a record begins',
    files: set(vols),
    expect: { set: 'ok', volumes: ok(vols) },
  });
  {
    const files = set(vols);
    delete files[name(3)];
    out.push({
      name: 'missing',
      description: 'volume 3 is not there',
      files,
      expect: { set: 'ERR_VOLUME_MISSING', volumes: Object.fromEntries(Object.keys(files).map((f) => [f, 'ok'])) },
    });
  }
  out.push({
    name: 'foreign',
    description: 'volume 2 comes from another export of the same content (another bundle id)',
    files: set(with2(foreign[1]!)),
    expect: { set: 'ERR_VOLUME_FOREIGN', volumes: ok(vols) },
  });
  out.push({
    name: 'reordered',
    description: 'the files named .002 and .003 hold volumes 3 and 2',
    files: set([vols[0]!, vols[2]!, vols[1]!, ...vols.slice(3)]),
    expect: { set: 'ERR_VOLUME_ORDER', volumes: ok(vols) },
  });
  out.push({
    name: 'duplicate',
    description: 'the file named .003 holds volume 2 again',
    files: set([vols[0]!, vols[1]!, vols[1]!, ...vols.slice(3)]),
    expect: { set: 'ERR_VOLUME_DUPLICATE', volumes: ok(vols) },
  });
  out.push({
    name: 'truncated',
    description: 'volume 2 lost its last 100 bytes',
    files: set(with2(vols[1]!.subarray(0, vols[1]!.length - 100))),
    expect: { set: 'ERR_VOLUME_TRUNCATED', volumes: { ...ok(vols), [name(2)]: 'ERR_VOLUME_TRUNCATED' } },
  });
  {
    const v = vols[1]!.slice();
    v[30]! ^= 1;
    out.push({
      name: 'damaged-header',
      description: "a bit of volume 2's header flipped: its check value no longer matches",
      files: set(with2(v)),
      expect: { set: 'ERR_VOLUME_DAMAGED', volumes: { ...ok(vols), [name(2)]: 'ERR_VOLUME_DAMAGED' } },
    });
  }
  {
    const v = vols[1]!.slice();
    v[VOLUME_HEADER_SIZE + 500]! ^= 1;
    out.push({
      name: 'damaged-chunk',
      description: 'a bit of a chunk frame in volume 2 flipped: the chunk digest catches it before the volume digest',
      files: set(with2(v)),
      expect: { set: 'ERR_BUNDLE_DIGEST_MISMATCH', volumes: { ...ok(vols), [name(2)]: 'ERR_BUNDLE_DIGEST_MISMATCH' } },
    });
  }
  out.push({
    name: 'payload-digest-lie',
    description: "volume 2's header gives another payload digest, with a check value that matches",
    files: set(with2(reheader(vols[1]!, (h) => (h.payloadDigest = new Uint8Array(32).fill(7))))),
    expect: { set: 'ERR_VOLUME_DAMAGED', volumes: { ...ok(vols), [name(2)]: 'ERR_VOLUME_DAMAGED' } },
  });
  out.push({
    name: 'offset-gap',
    description: 'volume 3 says it begins one byte later than volume 2 ended',
    files: set([vols[0]!, vols[1]!, reheader(vols[2]!, (h) => (h.offset += 1)), ...vols.slice(3)]),
    expect: { set: 'ERR_VOLUME_DAMAGED', volumes: ok(vols) },
  });
  out.push({
    name: 'last-not-marked',
    description: 'the volume holding the trailer is not marked last: a reader looks for a fifth',
    files: set([...vols.slice(0, -1), reheader(vols.at(-1)!, (h) => ((h.last = false), (h.count = 0)))]),
    expect: { set: 'ERR_VOLUME_MISSING', volumes: { ...ok(vols), [name(vols.length)]: 'ERR_VOLUME_DAMAGED' } },
  });
  return out;
}
