import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DEFAULT_CHUNK_SIZE, DEFAULT_LEVEL } from '../../format/constants.js';
import type { BootConfigRecord, Manifest, ManifestEntry } from '../../format/manifest.js';
import { validateManifest } from '../../format/manifest.js';
import { TOOL_NAME, TOOL_VERSION } from '../../version.js';

export interface NewManifestInput {
  bootConfig: Partial<BootConfigRecord> & { name: string };
  entries: (Omit<ManifestEntry, 'chunk_size' | 'codec' | 'level'> & Partial<Pick<ManifestEntry, 'chunk_size' | 'level'>>)[];
  chunkSize?: number;
  level?: number;
  source?: string;
}

/** Fills in the bookkeeping fields of a manifest and validates the result. */
export function newManifest(input: NewManifestInput): Manifest {
  const m: Manifest = {
    bundle_id: randomUUID(),
    created: new Date().toISOString(),
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    source: input.source ?? hostname().slice(0, 256),
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
