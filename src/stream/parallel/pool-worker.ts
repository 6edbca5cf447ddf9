import { parentPort, workerData } from 'node:worker_threads';
import { standalone } from '../../format/bytes.js';
import { openWithPieces, sealChunk, walkChunks } from './chunk-work.js';
import { readAndHashSpan } from '../delta/spans.js';
import { enginesNamed } from '../engine/engines.js';
import { alignedBytes } from '../io/direct.js';
import { hashFile } from './file-hash.js';
import { toWireError, type PoolReply, type PoolRequest, type PoolWorkerData } from './protocol.js';

const data = workerData as PoolWorkerData;
const port = parentPort!;
const ready = enginesNamed(data.hash, data.codec, data.pieces);
// Payloads this worker reads from a file land here, are hashed (and inflated) and never leave. It
// grows by whole MiB, so that it is not made again for every payload a little longer than the last.
const GROW = 1 << 20;
let scratch: Uint8Array = new Uint8Array(0);
const scratchOf = (bytes: number): Uint8Array => (scratch.length >= bytes ? scratch : (scratch = alignedBytes(Math.ceil(bytes / GROW) * GROW)));
// Keep the promise from being reported as unhandled before the first job awaits it.
ready.catch(() => {});

/**
 * A result in the caller's `out` buffer goes back with it; any other is made standalone, because
 * a codec may hand back a view into its own heap, which must not be transferred.
 */
function sendable(result: Uint8Array, out: Uint8Array | undefined): Uint8Array {
  return out && result.buffer === out.buffer ? result : standalone(result);
}

port.on('message', (req: PoolRequest) => {
  void (async () => {
    let reply: PoolReply;
    const transfer: ArrayBuffer[] = [];
    try {
      const engines = await ready;
      if (req.kind === 'span') {
        const span = readAndHashSpan(engines.pieces, req.fd, req.at, req.bytes, req.lengths, req.what, req.into);
        transfer.push(span.digests.buffer as ArrayBuffer);
        if (span.data.buffer instanceof ArrayBuffer) transfer.push(span.data.buffer);
        reply = { id: req.id, ok: true, span };
      } else if (req.kind === 'subtree') {
        const pair = engines.tree?.subtree(req.data, req.offset);
        reply = { id: req.id, ok: true, ...(pair ? { pair } : {}) };
      } else if (req.kind === 'cut') {
        const pieces = engines.pieces.candidates(req.data);
        transfer.push(pieces.cuts.buffer as ArrayBuffer, pieces.digests.buffer as ArrayBuffer);
        reply = { id: req.id, ok: true, pieces };
      } else if (req.kind === 'hash') {
        const digest = await hashFile(engines, req.path, (n) => port.postMessage({ id: req.id, progress: n } satisfies PoolReply));
        reply = { id: req.id, ok: true, digest };
      } else if (req.kind === 'walk') {
        const walked = walkChunks(engines, req.job, scratchOf);
        transfer.push(walked.headers.buffer as ArrayBuffer);
        reply = { id: req.id, ok: true, walked };
      } else if (req.kind === 'seal') {
        const s = sealChunk(engines, req.job);
        const payload = sendable(s.payload, s.out);
        const sealed = { ...s, payload };
        for (const b of new Set([payload.buffer, s.raw.buffer, s.out?.buffer])) if (b) transfer.push(b as ArrayBuffer);
        reply = { id: req.id, ok: true, sealed };
      } else {
        const job = req.job;
        const { data: out, pieces, pair } = openWithPieces(engines, job, job.payload ? undefined : scratchOf(job.header.compLength));
        const d = out && sendable(out, job.out);
        if (d) transfer.push(d.buffer as ArrayBuffer);
        if (pieces) transfer.push(pieces.cuts.buffer as ArrayBuffer, pieces.digests.buffer as ArrayBuffer);
        reply = { id: req.id, ok: true, ...(d ? { data: d } : {}), ...(pieces ? { pieces } : {}), ...(pair ? { pair } : {}) };
      }
    } catch (e) {
      reply = { id: req.id, ok: false, error: toWireError(e) };
    }
    port.postMessage(reply, transfer);
  })();
});
