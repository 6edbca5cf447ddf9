/**
 * Maps `source` through an async `fn` with at most `width` calls in flight, yielding results in
 * source order. The source is pulled only when a slot is free, so a slow consumer stalls the
 * source: this is what carries backpressure through a parallel stage.
 *
 * A failure is reported where it happened in source order: when the source throws, the items it
 * yielded before are finished and yielded first, so an error of theirs wins over the source's.
 */
export async function* orderedWindow<T, R>(source: AsyncIterable<T>, fn: (t: T) => Promise<R>, width: number): AsyncGenerator<R> {
  const it = source[Symbol.asyncIterator]();
  const queue: Promise<R>[] = [];
  let ended = false;
  let failed: { error: unknown } | undefined;
  try {
    for (;;) {
      while (!ended && queue.length < width) {
        let r: IteratorResult<T>;
        try {
          r = await it.next();
        } catch (error) {
          ended = true;
          failed = { error };
          break;
        }
        if (r.done) ended = true;
        else {
          const p = fn(r.value);
          // A later rejection is still reported in order; this only stops an unhandled-rejection warning.
          p.catch(() => {});
          queue.push(p);
        }
      }
      const head = queue.shift();
      if (!head) break;
      yield await head;
    }
    if (failed) throw failed.error;
  } finally {
    if (!ended) await it.return?.();
  }
}
