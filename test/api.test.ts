import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

/** Runs an ES module in a fresh Node, from the package root, the way a program that depends on bootport would. */
async function asUser(code: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT });
  return stdout;
}

/** The public API, on purpose: a name added to or removed from src/index.ts must be added or removed here and in the README. */
const PUBLIC = [
  'BOOT_STYLES',
  'BootportError',
  'DEFAULT_CHUNK_SIZE',
  'DEFAULT_LEVEL',
  'ERROR_CODES',
  'MAX_CHUNK_SIZE',
  'MAX_LEVEL',
  'MIN_CHUNK_SIZE',
  'MIN_LEVEL',
  'ROLES',
  'Store',
  'VERSION_MAJOR',
  'VERSION_MINOR',
  'WorkerPool',
  'addTrustedKey',
  'bundleBytes',
  'checkSignatures',
  'checkStore',
  'clearNodeAttributes',
  'cloneBootConfig',
  'cloneImage',
  'createBootConfig',
  'createBundleStream',
  'createImage',
  'createNodes',
  'createProgram',
  'decodeManifest',
  'defaultThreads',
  'deleteBootConfigs',
  'deleteImages',
  'deleteNodes',
  'encodeManifest',
  'exportSources',
  'fileSource',
  'generateKeyPair',
  'importBundle',
  'isBootportError',
  'listBootConfigs',
  'listImages',
  'listNodes',
  'listTrustedKeys',
  'loadEngines',
  'nameProblem',
  'newManifest',
  'parseEtcdUrl',
  'planImport',
  'readBundle',
  'readEnds',
  'readPublicKey',
  'readSigningKey',
  'removeTrustedKey',
  'repairStore',
  'requiresSignature',
  'resolveMany',
  'resolveOne',
  'run',
  'setNodeAttributes',
  'setRequireSignature',
  'signBundleFile',
  'signatureFailure',
  'storeLocation',
  'unpackBundle',
  'updateBootConfigs',
  'updateImages',
  'validateManifest',
  'verifyBundle',
];

describe('the package, imported by its name', () => {
  it('exports exactly the chosen API', async () => {
    expect(JSON.parse(await asUser(`import * as bp from 'bootport'; console.log(JSON.stringify(Object.keys(bp).sort()));`))).toEqual(PUBLIC);
  });

  it('keeps its internals unreachable', async () => {
    for (const path of ['bootport/dist/store/catalog/common.js', 'bootport/dist/format/bytes.js', 'bootport/src/index.ts']) {
      const out = await asUser(`import(${JSON.stringify(path)}).then(() => console.log('reached'), (e) => console.log(e.code));`);
      expect(out.trim(), path).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    }
  });

  it('writes, verifies and reads back a bundle through the public API alone', async () => {
    const out = await asUser(`
      import { newManifest, bundleBytes, verifyBundle, readBundle, isBootportError } from 'bootport';
      const k = new TextEncoder().encode('kernel bytes'), i = new Uint8Array(100000).fill(7);
      const m = newManifest({ source: 'api-test', bootConfig: { name: 'apiBoot' }, entries: [
        { role: 'kernel', name: 'vmlinuz', size: k.length }, { role: 'initramfs', name: 'initrd', size: i.length } ] });
      const one = async function* (b) { yield b; };
      const parts = [];
      for await (const p of bundleBytes(m, [one(k), one(i)])) parts.push(Buffer.from(p));
      const bundle = Buffer.concat(parts);
      const v = await verifyBundle(one(bundle));
      let got = 0;
      for await (const ev of readBundle(one(bundle))) if (ev.type === 'chunk') got += ev.data.length;
      bundle[bundle.length - 40] ^= 1;
      const bad = await verifyBundle(one(bundle)).then(() => 'ok', (e) => isBootportError(e) ? e.code : 'not coded');
      console.log(JSON.stringify({ name: v.manifest.boot_config.name, got, bad }));`);
    expect(JSON.parse(out)).toEqual({ name: 'apiBoot', got: 100012, bad: 'ERR_BUNDLE_DIGEST_MISMATCH' });
  });

  it('documents every error code in the README', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const codes = Object.keys(JSON.parse(await asUser(`import { ERROR_CODES } from 'bootport'; console.log(JSON.stringify(ERROR_CODES));`)));
    expect(codes.length).toBeGreaterThan(30);
    expect(codes.filter((c) => !readme.includes(`\`${c}\``))).toEqual([]);
  });

  it('is described in the README, name for name', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Library'), readme.indexOf('\n## ', readme.indexOf('## Library') + 1));
    const named = new Set([...section.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1]));
    expect(PUBLIC.filter((n) => !named.has(n))).toEqual([]);
  });
});
