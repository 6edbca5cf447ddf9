/**
 * Buffers of one size, handed back for reuse. A fresh multi-MiB array per chunk made glibc's heap
 * fragment and V8 fault in fresh pages and collect garbage; peak RSS grew with the payload size.
 * At most `keep` are held, so what a pool pins is bounded too.
 */
export class BufferPool {
  private readonly free: Uint8Array[] = [];

  constructor(
    readonly size: number,
    private readonly keep: number,
  ) {}

  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(this.size);
  }

  /**
   * Takes back the whole buffer behind `view` (it may have been to a worker and back, arriving as
   * a new ArrayBuffer object over the same memory). Buffers of another size are left to the GC.
   */
  give(view: Uint8Array): void {
    if (view.buffer.byteLength === this.size && this.free.length < this.keep) this.free.push(new Uint8Array(view.buffer, 0, this.size));
  }
}
