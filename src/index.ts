/** The library API: everything the CLI does is available here. */
export * from './format/index.js';
export { loadEngines, type Engines, type EngineChoice } from './stream/engines.js';
export type { ChunkCodec } from './stream/codec.js';
export type { HashEngine, Hasher } from './stream/hash.js';
export { createBundleStream, bundleBytes, type WriteOptions, type WriteSummary } from './stream/writer.js';
export { fileSource, type ByteSource, type DirectSource } from './stream/source.js';
export { WorkerPool } from './stream/pool.js';
export { defaultThreads, localRunner, type ChunkRunner, type RunOptions } from './stream/runner.js';
export { readBundle, verifyBundle, type BundleEvent, type ReadOptions, type VerifyResult } from './stream/reader.js';
export { readEnds, type EndsView } from './stream/inspect.js';
export { unpackBundle } from './stream/unpack.js';
export { stageBundle } from './stream/stage.js';
export { newManifest } from './stream/pack.js';
export { Store } from './store/store.js';
export { defaultStoreDir } from './store/paths.js';
export * from './store/catalog.js';
export { exportSources, importBundle, planImport, type ImportOptions, type ImportPlan, type ImportResult } from './store/transfer.js';
export { createProgram, run } from './cli/program.js';
