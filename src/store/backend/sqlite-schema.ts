/**
 * The catalog schema. Digests are `blake3:<hex>` strings naming files under blobs/blake3/.
 * `PRAGMA user_version` holds the schema version; `migrations[v]` takes a catalog from v to v+1.
 * Inserts always name their columns, since a migrated table's columns may be in another order.
 */
export const SCHEMA_VERSION = 3;

/** The public keys this store trusts to sign bundles, and the store's settings (version 3). */
const TRUST = `
CREATE TABLE trusted_keys (
  fingerprint TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  algorithm TEXT NOT NULL,
  key TEXT NOT NULL,
  added TEXT NOT NULL
) STRICT;
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;`;

const INDEXES = `
CREATE INDEX IF NOT EXISTS nodes_by_boot_config ON nodes(boot_config);
CREATE INDEX IF NOT EXISTS boot_configs_by_image ON boot_configs(image);
CREATE INDEX IF NOT EXISTS boot_configs_by_kernel ON boot_configs(kernel);
CREATE INDEX IF NOT EXISTS boot_configs_by_initramfs ON boot_configs(initramfs);
CREATE INDEX IF NOT EXISTS images_by_content ON images(content);`;

export const SCHEMA = `
CREATE TABLE blobs (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL
) STRICT;
CREATE TABLE images (
  uid TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  content TEXT NOT NULL REFERENCES blobs(digest),
  size INTEGER NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  distro TEXT NOT NULL DEFAULT '',
  parent TEXT NOT NULL DEFAULT '',
  frozen INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL,
  modified TEXT NOT NULL
) STRICT;
CREATE TABLE boot_configs (
  uid TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kernel TEXT NOT NULL REFERENCES blobs(digest),
  kernel_name TEXT NOT NULL,
  initramfs TEXT NOT NULL REFERENCES blobs(digest),
  initramfs_name TEXT NOT NULL,
  cmdline TEXT NOT NULL DEFAULT '',
  image TEXT REFERENCES images(uid),
  boot_style TEXT NOT NULL DEFAULT 'rwram',
  description TEXT NOT NULL DEFAULT '',
  frozen INTEGER NOT NULL DEFAULT 0,
  release TEXT,
  attributes TEXT NOT NULL DEFAULT '{}',
  created TEXT NOT NULL,
  modified TEXT NOT NULL
) STRICT;
CREATE TABLE nodes (
  uid TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  mac TEXT,
  attributes TEXT NOT NULL DEFAULT '{}',
  created TEXT NOT NULL,
  modified TEXT NOT NULL,
  boot_config TEXT REFERENCES boot_configs(uid)
) STRICT;
${INDEXES}
${TRUST}
`;

/**
 * Version 1 kept a node's boot config as a name inside its JSON attributes, kept right by hand on
 * rename and checked by hand on delete. Version 2 makes it a foreign key. A name that matches no
 * boot config (which version 1 should never have let happen) stays in the attributes, for fsck
 * to report, rather than being dropped.
 */
const V1_TO_V2 = `
ALTER TABLE nodes ADD COLUMN boot_config TEXT REFERENCES boot_configs(uid);
UPDATE nodes SET
  boot_config = (SELECT b.uid FROM boot_configs b WHERE b.name = json_extract(nodes.attributes, '$._boot_config')),
  attributes = json_remove(attributes, '$._boot_config')
  WHERE json_extract(attributes, '$._boot_config') IN (SELECT name FROM boot_configs);
${INDEXES}
`;

/** `MIGRATIONS[v]` takes a catalog from version v to v + 1. */
export const MIGRATIONS: Record<number, string> = { 1: V1_TO_V2, 2: TRUST };
