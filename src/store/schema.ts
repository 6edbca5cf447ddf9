/** The catalog schema. Digests are `blake3:<hex>` strings naming files under blobs/blake3/. */
export const LAYOUT_VERSION = 1;
export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS blobs (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS images (
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
CREATE TABLE IF NOT EXISTS boot_configs (
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
CREATE TABLE IF NOT EXISTS nodes (
  uid TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  mac TEXT,
  attributes TEXT NOT NULL DEFAULT '{}',
  created TEXT NOT NULL,
  modified TEXT NOT NULL
) STRICT;
`;
