/**
 * Buffers of one size, handed back for reuse. A fresh multi-MiB array per chunk made glibc's heap
 * fragment and V8 fault in fresh pages and collect garbage; peak RSS grew with the payload size.
 * At most `keep` are held, so what a pool pins is bounded too.
 */
export class BufferPool {
  private readonly free: Uint8Array[] = [];

  /** `alloc` makes a new buffer (plain bytes unless given): `size` bytes, at a fixed offset in its own ArrayBuffer. */
  constructor(
    readonly size: number,
    private readonly keep: number,
    private readonly alloc: (size: number) => Uint8Array = (n) => new Uint8Array(n),
  ) {}

  private bufferBytes = -1;

  take(): Uint8Array {
    const b = this.free.pop();
    if (b) return b;
    const fresh = this.alloc(this.size);
    this.bufferBytes = fresh.buffer.byteLength;
    return fresh;
  }

  /**
   * Takes back the whole buffer behind `view`, which starts where the buffer does (it may have
   * been to a worker and back, arriving as a new ArrayBuffer object over the same memory).
   * Buffers of another size are left to the GC.
   */
  give(view: Uint8Array): void {
    if (view.buffer.byteLength === this.bufferBytes && view.byteOffset + this.size <= this.bufferBytes && this.free.length < this.keep)
      this.free.push(new Uint8Array(view.buffer, view.byteOffset, this.size));
  }
}
