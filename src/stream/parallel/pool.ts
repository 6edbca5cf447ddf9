import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { BootportError } from '../../format/errors.js';
import { packagePath } from '../io/package-path.js';
import type { Candidates } from '../engine/pieces.js';
import type { HashedSpan } from '../delta/spans.js';
import { openWithPieces, sealChunk, type ChunkRunner, type OpenJob, type Opened, type Sealed, type SealJob, type WalkJob, type Walked } from './chunk-work.js';
import type { Engines } from '../engine/engines.js';
import type { FileDigest } from './file-hash.js';

import { reviveError, type PoolReply, type PoolRequest, type PoolWorkerData } from './protocol.js';

interface Slot {
  worker: Worker;
  inFlight: number;
}

type Done = Extract<PoolReply, { ok: true }>;

interface Waiter {
  slot: Slot;
  resolve: (r: Done) => void;
  reject: (e: Error) => void;
  progress?: (bytes: number) => void;
}

/**
 * The worker script, always the bundle of it in dist/bin/ (`npm run build`), which starts faster
 * than the modules it is made of: this module may run from dist/, from the CLI's bundle beside
 * it, or from src/ under a TypeScript test runner, where a worker could not load TypeScript (the
 * runner's global setup builds dist/ first).
 */
function workerScript(): string {
  let script: string;
  try {
    script = packagePath('dist/bin/pool-worker.js');
  } catch (e) {
    throw new BootportError('ERR_CODEC', `the worker script cannot be found: ${(e as Error).message}`, {}, 'run bootport from its package, or on one thread');
  }
  if (!existsSync(script))
    throw new BootportError('ERR_CODEC', `the worker script ${script} is missing`, {}, 'build bootport (npm run build), or run on one thread');
  return script;
}

/**
 * A fixed set of worker threads running chunk work with the same engines as the caller. Raw and
 * compressed bytes are transferred, not copied, both ways. The pool never queues more than the
 * caller's window: `width` is two jobs per worker, so a worker always has its next chunk waiting
 * while the main thread reads, hashes and writes. Opening a chunk takes a tenth of the time
 * compressing one does, and the ordered window frees a slot only when the oldest job is done, so
 * reading keeps four per worker in flight: with two, workers waited (bench/README.md).
 */
export class WorkerPool implements ChunkRunner {
  readonly sealWidth: number;
  readonly openWidth: number;
  /** Workers read payloads from files themselves (see payloadOf). */
  readonly readsFiles = true;
  private slots: Slot[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 0;
  private closed = false;
  /** Set when a worker died: every later job fails at once instead of waiting for a dead thread. */
  private broken: BootportError | undefined;

  constructor(
    private readonly engines: Engines,
    readonly threads: number,
  ) {
    this.sealWidth = threads * 2;
    this.openWidth = threads * 4;
  }

  async seal(job: SealJob): Promise<Sealed> {
    // A lone chunk (a kernel or initramfs of a few MiB) is cheaper here than starting workers.
    if (job.final && job.seq === 0) return sealChunk(this.engines, job);
    const transfer = [job.raw.buffer as ArrayBuffer, ...(job.out ? [job.out.buffer as ArrayBuffer] : [])];
    const r = await this.send({ id: this.nextId++, kind: 'seal', job }, transfer);
    return r.sealed!;
  }

  async open(job: OpenJob): Promise<Opened> {
    if (job.header.final && job.header.seq === 0) return openWithPieces(this.engines, job);
    const transfer = [job.payload?.buffer, job.out?.buffer].filter((b): b is ArrayBuffer => b !== undefined);
    const r = await this.send({ id: this.nextId++, kind: 'open', job }, transfer);
    return { ...(r.data ? { data: r.data } : {}), ...(r.pieces ? { pieces: r.pieces } : {}), ...(r.pair ? { pair: r.pair } : {}) };
  }

  /** Checks a run of records on a worker (walkChunks): a message per run, not per chunk. */
  async walk(job: WalkJob): Promise<Walked> {
    const r = await this.send({ id: this.nextId++, kind: 'walk', job }, []);
    return r.walked!;
  }

  /** A block's candidate pieces (see engine/pieces.ts), cut on a worker; `data` is moved to it, unless shared. */
  async cut(data: Uint8Array): Promise<Candidates> {
    const r = await this.send({ id: this.nextId++, kind: 'cut', data }, data.buffer instanceof ArrayBuffer ? [data.buffer] : []);
    return r.pieces!;
  }

  /** The pair of `data` as the subtree at content byte `offset` (engine/tree.ts), hashed on a worker; `data` must be shared, as it is not moved. */
  async subtree(data: Uint8Array, offset: number): Promise<Uint8Array | undefined> {
    const r = await this.send({ id: this.nextId++, kind: 'subtree', data, offset }, []);
    return r.pair;
  }

  /** `readAndHashSpan` on a worker: the span's bytes (in `into`, if given, moved or shared) come back with their pieces' digests. */
  async span(fd: number, at: number, bytes: number, lengths: Uint32Array, what: string, into?: Uint8Array): Promise<HashedSpan> {
    const transfer = [lengths.buffer as ArrayBuffer, ...(into?.buffer instanceof ArrayBuffer ? [into.buffer] : [])];
    const r = await this.send({ id: this.nextId++, kind: 'span', fd, at, bytes, lengths, what, ...(into ? { into } : {}) }, transfer);
    return r.span!;
  }

  /** BLAKE3 of a whole file, on a worker, so several files are hashed at once. */
  async hashFile(path: string, progress?: (bytes: number) => void): Promise<FileDigest> {
    const r = await this.send({ id: this.nextId++, kind: 'hash', path }, [], progress);
    return r.digest!;
  }

  warm(): void {
    if (!this.closed && !this.slots.length) this.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots;
    this.slots = [];
    this.failAll(new BootportError('ERR_CODEC', 'the worker pool was closed with chunks in flight'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private start(): void {
    const script = workerScript();
    const workerData: PoolWorkerData = { hash: this.engines.hash.name, codec: this.engines.codec.name, pieces: this.engines.pieces.name };
    for (let i = 0; i < this.threads; i++) {
      // execArgv is cleared so a test runner's loader flags are not inherited by plain JS workers.
      const worker = new Worker(script, { workerData, execArgv: [] });
      const slot: Slot = { worker, inFlight: 0 };
      worker.on('message', (m: PoolReply) => this.settle(m));
      worker.on('error', (e) => this.fail(new BootportError('ERR_CODEC', `a compression worker failed: ${e.message}`, {}, undefined, { cause: e })));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new BootportError('ERR_CODEC', `a compression worker exited with code ${code}`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  private fail(e: BootportError): void {
    this.broken ??= e;
    this.failAll(e);
  }

  private send(req: PoolRequest, transfer: ArrayBuffer[], progress?: (bytes: number) => void): Promise<Done> {
    if (this.closed) return Promise.reject(new BootportError('ERR_CODEC', 'the worker pool is closed'));
    if (this.broken) return Promise.reject(this.broken);
    if (!this.slots.length) this.start();
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.inFlight < slot.inFlight) slot = s;
    return new Promise((resolve, reject) => {
      this.waiting.set(req.id, { slot, resolve, reject, ...(progress ? { progress } : {}) });
      // An idle pool must not keep the process alive, but a pending reply must.
      if (slot.inFlight++ === 0) slot.worker.ref();
      slot.worker.postMessage(req, transfer);
    });
  }

  private settle(m: PoolReply): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    if ('progress' in m) {
      w.progress?.(m.progress);
      return;
    }
    this.waiting.delete(m.id);
    if (--w.slot.inFlight === 0) w.slot.worker.unref();
    if (m.ok) w.resolve(m);
    else w.reject(reviveError(m.error));
  }

  private failAll(e: Error): void {
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.slot.inFlight = 0;
      w.slot.worker.unref();
      w.reject(e);
    }
  }
}
