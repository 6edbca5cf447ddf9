import { DEFAULT_CHUNK_SIZE, DEFAULT_LEVEL } from './constants.js';
import type { BootConfigRecord, Manifest, ManifestEntry } from './manifest.js';
import { validateManifest } from './manifest.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';

export interface NewManifestInput {
  bootConfig: Partial<BootConfigRecord> & { name: string };
  entries: (Omit<ManifestEntry, 'chunk_size' | 'codec' | 'level'> & Partial<Pick<ManifestEntry, 'chunk_size' | 'level'>>)[];
  chunkSize?: number;
  level?: number;
  /** The host the bundle is made on (the caller knows it: this module does no I/O). */
  source?: string;
  /** Fixed identity, for reproducible bundles; by default a random UUID and the current time. */
  bundleId?: string;
  created?: string;
}

/** Fills in the bookkeeping fields of a manifest and validates the result. */
export function newManifest(input: NewManifestInput): Manifest {
  const m: Manifest = {
    bundle_id: input.bundleId ?? globalThis.crypto.randomUUID(),
    created: input.created ?? new Date().toISOString(),
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    source: input.source ?? '',
    boot_config: {
      cmdline: '',
      description: '',
      boot_style: 'rwram',
      attributes: {},
      ...input.bootConfig,
    },
    entries: input.entries.map((e) => ({
      ...e,
      chunk_size: e.chunk_size ?? input.chunkSize ?? DEFAULT_CHUNK_SIZE,
      codec: 'zstd',
      level: e.level ?? input.level ?? DEFAULT_LEVEL,
    })),
  };
  return validateManifest(m);
}
