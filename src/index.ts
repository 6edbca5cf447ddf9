/**
 * The library API, chosen on purpose: what a program needs to write, read, check and unpack
 * bundles, and to use a store the way the CLI does. Everything else is internal and is not
 * reachable from outside the package (package.json `exports`). README.md, "Library", matches
 * this list, and test/api.test.ts imports it by the package's name.
 */

// Bundles: make a manifest, write, read, check, unpack.
export {
  BOOT_STYLES,
  ROLES,
  decodeManifest,
  encodeManifest,
  validateManifest,
  type BootConfigRecord,
  type BootStyle,
  type Manifest,
  type ManifestEntry,
  type Role,
} from './format/manifest.js';
export { newManifest, type NewManifestInput } from './format/new-manifest.js';
export { DEFAULT_CHUNK_SIZE, DEFAULT_LEVEL, MAX_CHUNK_SIZE, MAX_LEVEL, MIN_CHUNK_SIZE, MIN_LEVEL, VERSION_MAJOR, VERSION_MINOR } from './format/constants.js';
export { nameProblem } from './format/names.js';
export { bundleBytes, createBundleStream, type WriteOptions, type WriteSummary } from './stream/bundle/writer.js';
export {
  readBundle,
  verifyBundle,
  type BundleEvent,
  type ChunkEvent,
  type EndEvent,
  type EntryEndEvent,
  type HeaderEvent,
  type ReadOptions,
  type VerifyResult,
} from './stream/bundle/reader.js';
export { readEnds, type EndsView } from './stream/bundle/inspect.js';
export { unpackBundle, type UnpackOptions } from './stream/ops/unpack.js';
export { fileSource, type ByteSource, type DirectSource } from './stream/io/source.js';

// Signatures: keys, signing a written or an existing bundle, checking what a bundle carries.
export { generateKeyPair, readPublicKey, readSigningKey, type PublicKeyInfo, type SigningKey } from './stream/sign/keys.js';
export { checkSignatures, signatureFailure, type SignatureCheck, type SignatureReport, type Signer, type TrustedKey } from './stream/sign/signatures.js';
export { signBundleFile } from './stream/sign/sign-file.js';

// Engines and threads: the library uses one thread unless told otherwise.
export { loadEngines, type EngineChoice, type Engines } from './stream/engine/engines.js';
export { WorkerPool } from './stream/parallel/pool.js';
export { defaultThreads, type ChunkRunner, type RunOptions } from './stream/parallel/runner.js';

// Errors: every failure is a BootportError with a stable code.
export { BootportError, isBootportError, type ErrorCode, type ErrorLocation } from './format/errors.js';
export { ERROR_CODES } from './cli/exit.js';

// The store: its catalog, export, import and check.
export { Store, type StagedBlob, type StoreMode, type StoreOptions } from './store/store.js';
export { parseEtcdUrl, storeLocation, type EtcdLocation, type StoreLocation } from './store/location.js';
export { resolveMany, resolveOne, type Named, type Selection } from './store/catalog/common.js';
export {
  cloneBootConfig,
  createBootConfig,
  deleteBootConfigs,
  listBootConfigs,
  updateBootConfigs,
  type BootConfigFields,
  type BootConfigView,
} from './store/catalog/boot-configs.js';
export { cloneImage, createImage, deleteImages, listImages, updateImages, type ImageFields, type ImageView } from './store/catalog/images.js';
export { clearNodeAttributes, createNodes, deleteNodes, listNodes, setNodeAttributes, type NodeView } from './store/catalog/nodes.js';
export { exportSources, type ExportOptions } from './store/export.js';
export { importBundle, planImport, type ImportOptions, type ImportPlan, type ImportResult } from './store/import.js';
export { addTrustedKey, listTrustedKeys, removeTrustedKey, requiresSignature, setRequireSignature, type TrustedKeyView } from './store/catalog/trust.js';
export { checkStore, repairStore, type Finding, type FsckOptions, type FsckReport } from './store/fsck.js';

// The command line, in process.
export { createProgram, run } from './cli/program.js';
