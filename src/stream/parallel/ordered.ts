/**
 * Maps `source` through an async `fn` with at most `width` calls in flight, yielding results in
 * source order. The source is pulled only when a slot is free, so a slow consumer stalls the
 * source: this is what carries backpressure through a parallel stage.
 */
export async function* orderedWindow<T, R>(source: AsyncIterable<T>, fn: (t: T) => Promise<R>, width: number): AsyncGenerator<R> {
  const it = source[Symbol.asyncIterator]();
  const queue: Promise<R>[] = [];
  let ended = false;
  try {
    for (;;) {
      while (!ended && queue.length < width) {
        const r = await it.next();
        if (r.done) ended = true;
        else {
          const p = fn(r.value);
          // A later rejection is still reported in order; this only stops an unhandled-rejection warning.
          p.catch(() => {});
          queue.push(p);
        }
      }
      const head = queue.shift();
      if (!head) return;
      yield await head;
    }
  } finally {
    if (!ended) await it.return?.();
  }
}
