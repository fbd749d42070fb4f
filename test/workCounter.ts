// Deterministic work bounds for the readers' bomb tests (a timed assertion is not a benchmark):
// while `fn` runs, every entry read from a PyDict's iterators is counted, and past `budget` the
// walk is stopped with an error, so a blow-up fails at once instead of hanging the run; and the
// bytes read through a source are counted.
import { PyDict } from '../src/analysis/formats/pickle';
import type { ByteSource } from '../src/analysis/io/byteSource';

export class WorkBudgetError extends Error {
  constructor(budget: number) {
    super(`walked more than ${budget} dict entries`);
    this.name = 'WorkBudgetError';
  }
}

type IterMethod = 'entries' | 'values' | 'keys' | typeof Symbol.iterator;
const METHODS: IterMethod[] = ['entries', 'values', 'keys', Symbol.iterator];

/** Runs `fn` counting the dict entries it walks (every iterator step that yields an entry). */
export async function countDictWalk<T>(budget: number, fn: () => Promise<T>): Promise<{ result: T; walked: number } | { error: unknown; walked: number }> {
  const proto = PyDict.prototype as unknown as Record<IterMethod, (this: PyDict) => Iterator<unknown>>;
  const saved = METHODS.map((m) => proto[m]);
  let walked = 0;
  const counted = (original: (this: PyDict) => Iterator<unknown>) =>
    function (this: PyDict): IterableIterator<unknown> {
      const it = original.call(this);
      const wrapped: IterableIterator<unknown> = {
        next: () => {
          const r = it.next();
          if (!r.done && ++walked > budget) throw new WorkBudgetError(budget);
          return r;
        },
        [Symbol.iterator]: () => wrapped,
      };
      return wrapped;
    };
  METHODS.forEach((m, i) => (proto[m] = counted(saved[i])));
  try {
    return { result: await fn(), walked };
  } catch (error) {
    return { error, walked };
  } finally {
    METHODS.forEach((m, i) => (proto[m] = saved[i]));
  }
}

/** Records every read through a source: tests prove what opening a file reads, and how much. */
export class CountingSource implements ByteSource {
  readonly reads: Array<[number, number]> = [];
  bytesRead = 0;
  constructor(private readonly inner: ByteSource) {}
  get size(): number {
    return this.inner.size;
  }
  get label(): string {
    return this.inner.label;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    this.count(offset, length);
    return this.inner.read(offset, length);
  }
  readInto(offset: number, target: Uint8Array): Promise<void> {
    this.count(offset, target.length);
    return this.inner.readInto(offset, target);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  private count(offset: number, length: number): void {
    this.reads.push([offset, length]);
    this.bytesRead += length;
  }
}
