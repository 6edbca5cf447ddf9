/** Writes fixtures/vectors/: `npm run vectors`. */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadEngines } from '../src/stream/engine/engines.js';
import { formatPublicKey } from '../src/stream/sign/keys.js';
import { makeVectors, vectorKey } from './vectors.js';
import { makeVolumeVectors } from './volume-vectors.js';

const dir = process.argv[2] ?? 'fixtures/vectors';
await mkdir(dir, { recursive: true });
for (const f of await readdir(dir)) if (f.endsWith('.bpb') || f.endsWith('.expect.json')) await rm(join(dir, f));
for (const n of [1, 2] as const) await writeFile(join(dir, `vector-signer-${n}.pub`), formatPublicKey(vectorKey(n).raw, `vector-signer-${n}`));
for (const v of await makeVectors(await loadEngines('native'))) {
  await writeFile(join(dir, `${v.name}.bpb`), v.bytes);
  await writeFile(join(dir, `${v.name}.expect.json`), JSON.stringify({ description: v.description, ...v.expect, size: v.bytes.length }, null, 2) + '\n');
  console.log(`${v.name.padEnd(32)} ${String(v.bytes.length).padStart(7)} bytes  verify=${v.expect.verify} deep=${v.expect.deep}`);
}

// Volume vectors: one directory per set, beside the bundle vectors.
const vdir = join(dir, '..', 'volumes');
await rm(vdir, { recursive: true, force: true });
for (const v of await makeVolumeVectors(await loadEngines('native'))) {
  await mkdir(join(vdir, v.name), { recursive: true });
  for (const [f, bytes] of Object.entries(v.files)) await writeFile(join(vdir, v.name, f), bytes);
  await writeFile(join(vdir, v.name, 'expect.json'), JSON.stringify({ description: v.description, ...v.expect }, null, 2) + '\n');
  console.log(`volumes/${v.name.padEnd(24)} ${Object.keys(v.files).length} files  set=${v.expect.set}`);
}
