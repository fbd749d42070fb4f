// Reading tensor values on demand: chunked, decoded, strides honoured, bounded memory.
import type { BlockKernel, TensorInfo } from './checkpoint';
import { isContiguous } from './checkpoint';
import { byteSwap, decode, dtypeSize, isComplex, type Decoded } from './dtype';
import { CancelledError, CheckpointError } from './errors';
import { MAX_SINGLE_READ } from '../io/byteSource';

/**
 * Chunks of 1 MiB read into reused buffers stay in the CPU cache between the read and the
 * statistics loop; fresh multi-MB buffers cost page faults and run ~10× slower (measured).
 */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;

export interface ReadOptions {
  chunkBytes?: number;
  isCancelled?: () => boolean;
  /**
   * Reuse two rotating buffers: each yielded chunk is valid only until the next one is asked
   * for. For streaming reductions; callers that keep chunks must leave this off.
   */
  reuseBuffers?: boolean;
}

/** Logical elements of a broadcast view walked one by one at most (statistics never walk them: see storedView). */
export const MAX_BROADCAST_WALK = 1 << 28;

/**
 * A broadcast view (stride 0 over a dimension longer than 1, as `expand` saves it) repeats
 * each stored element the same number of times: `view` is the tensor without those
 * dimensions and `weight` how often each of its elements appears in `t` (1 when none).
 */
export function storedView(t: TensorInfo): { view: TensorInfo; weight: number } {
  const { strides } = t.location;
  if (t.quant || !t.shape.some((d, i) => d > 1 && strides[i] === 0)) return { view: t, weight: 1 };
  const keep = t.shape.map((d, i) => !(d > 1 && strides[i] === 0));
  const shape = t.shape.filter((_, i) => keep[i]);
  let numel = 1;
  for (const d of shape) numel *= d;
  const view: TensorInfo = {
    ...t,
    shape,
    numel,
    nbytes: numel * dtypeSize(t.dtype),
    location: { ...t.location, strides: strides.filter((_, i) => keep[i]) },
  };
  return { view, weight: t.numel / numel };
}

/** The storage byte range a tensor's elements lie in, checked against its storage. */
function elementSpan(t: TensorInfo): { first: number; count: number } {
  const { shape } = t;
  const { strides, elementOffset } = t.location;
  if (t.numel === 0) return { first: elementOffset, count: 0 };
  let last = elementOffset;
  let first = elementOffset;
  for (let i = 0; i < shape.length; i++) {
    const reach = (shape[i] - 1) * strides[i];
    if (reach >= 0) last += reach;
    else first += reach;
  }
  const size = dtypeSize(t.dtype);
  if (first < 0 || (last + 1) * size > t.location.storageBytes) {
    throw new CheckpointError(t.location.source.label, `tensor "${t.name}": its view (offset ${elementOffset}, shape [${shape}], strides [${strides}]) reaches outside its storage of ${t.location.storageBytes} bytes`);
  }
  return { first, count: last - first + 1 };
}

async function readBytes(t: TensorInfo, firstElement: number, count: number): Promise<Uint8Array> {
  const size = dtypeSize(t.dtype);
  const bytes = await t.location.source.read(t.location.storageByteOffset + firstElement * size, count * size);
  if (t.location.byteOrder === 'big') byteSwap(bytes, isComplex(t.dtype) ? size / 2 : size);
  return bytes;
}

/**
 * Decoded values of `t` in C order, in chunks of about `chunkBytes`. Contiguous tensors are
 * range-read chunk by chunk with the next read already in flight; strided views are gathered
 * from the span they cover.
 */
export async function* tensorChunks(t: TensorInfo, opts: ReadOptions = {}): AsyncGenerator<Decoded> {
  if (t.numel === 0) return;
  if (t.quant) {
    yield* quantChunks(t, opts);
    return;
  }
  const size = dtypeSize(t.dtype);
  const chunkElems = Math.max(1, Math.floor((opts.chunkBytes ?? DEFAULT_CHUNK_BYTES) / size));
  const span = elementSpan(t);
  const check = (): void => {
    if (opts.isCancelled?.()) throw new CancelledError();
  };

  if (isContiguous(t.shape, t.location.strides)) {
    const start = t.location.elementOffset;
    // With reuse, chunk i lives in buffer i % 2: the read of chunk i+1 overlaps the caller's
    // work on chunk i, and buffer i % 2 is refilled only after the caller asked for chunk i+1.
    const pool = opts.reuseBuffers ? [new Uint8Array(Math.min(chunkElems, t.numel) * size), new Uint8Array(Math.min(chunkElems, t.numel) * size)] : undefined;
    const scratch: (Decoded | undefined)[] = [undefined, undefined];
    const fetch = async (first: number, n: number, slot: number): Promise<Uint8Array> => {
      if (!pool) return readBytes(t, start + first, n);
      const buf = pool[slot].subarray(0, n * size);
      await t.location.source.readInto(t.location.storageByteOffset + (start + first) * size, buf);
      if (t.location.byteOrder === 'big') byteSwap(buf, isComplex(t.dtype) ? size / 2 : size);
      return buf;
    };
    let next: Promise<Uint8Array> | undefined = fetch(0, Math.min(chunkElems, t.numel), 0);
    next.catch(() => undefined); // cancelled before the first chunk is awaited: not unhandled
    for (let done = 0, i = 0; done < t.numel; i++) {
      check();
      const n = Math.min(chunkElems, t.numel - done);
      // Synchronous small reads never give the event loop a turn: let it run every 64 chunks
      // so a worker still hears new requests in the middle of a multi-GB tensor.
      if (i % 64 === 63) await new Promise<void>((r) => setImmediate(r));
      const bytes: Uint8Array = await next!;
      const after = done + n;
      next = after < t.numel ? fetch(after, Math.min(chunkElems, t.numel - after), (i + 1) % 2) : undefined;
      // An unawaited prefetch that fails while the caller stops early must not go unhandled.
      next?.catch(() => undefined);
      const values = decode(bytes, t.dtype, pool ? scratch[i % 2] : undefined);
      if (pool) scratch[i % 2] = values;
      yield values;
      done = after;
    }
    return;
  }

  if (t.numel > MAX_BROADCAST_WALK && t.numel > span.count) {
    throw new CheckpointError(t.location.source.label, `tensor "${t.name}" is a broadcast view of ${t.numel} elements over ${span.count} stored ones; too many to walk one by one here (its statistics come from the stored elements)`);
  }
  if (span.count * size > MAX_SINGLE_READ) {
    throw new CheckpointError(t.location.source.label, `tensor "${t.name}" is a non-contiguous view spanning ${span.count * size} bytes; too large to gather`);
  }
  const all = decode(await readBytes(t, span.first, span.count), t.dtype);
  yield* gather(t, all, span.first, chunkElems, check);
}

/** The kernel of a quantized tensor, or a clear error for a type whose values are not decoded. */
function quantKernel(t: TensorInfo): NonNullable<TensorInfo['quant']> & { kernel: BlockKernel } {
  const q = t.quant!;
  if (!q.kernel) throw new CheckpointError(t.location.source.label, `tensor "${t.name}" is ${q.undecoded ?? `${q.type}: values not decoded (its grid-coded blocks need ggml's lookup tables, which this reader does not carry)`}`);
  if (t.numel % q.blockElems !== 0 || (t.numel / q.blockElems) * q.blockBytes > t.location.storageBytes) {
    throw new CheckpointError(t.location.source.label, `tensor "${t.name}": ${t.numel} ${q.type} values do not fill whole blocks inside its ${t.location.storageBytes} bytes`);
  }
  return q as NonNullable<TensorInfo['quant']> & { kernel: BlockKernel };
}

/** Dequantized values of blocks [firstBlock, firstBlock + nBlocks) of a quantized tensor. */
export async function readQuantBlocks(t: TensorInfo, firstBlock: number, nBlocks: number, out?: Float32Array): Promise<Float32Array> {
  const q = quantKernel(t);
  const bytes = await t.location.source.read(t.location.storageByteOffset + firstBlock * q.blockBytes, nBlocks * q.blockBytes);
  const values = out && out.length >= nBlocks * q.blockElems ? out.subarray(0, nBlocks * q.blockElems) : new Float32Array(nBlocks * q.blockElems);
  q.kernel(bytes, nBlocks, values);
  return values;
}

/** Quantized tensors: whole blocks per chunk (chunkBytes counts decoded float32 bytes), next read in flight. */
async function* quantChunks(t: TensorInfo, opts: ReadOptions): AsyncGenerator<Decoded> {
  const q = quantKernel(t);
  const totalBlocks = t.numel / q.blockElems;
  const per = Math.max(1, Math.floor((opts.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 4 / q.blockElems));
  const first = Math.min(per, totalBlocks);
  const pool = opts.reuseBuffers ? [new Uint8Array(first * q.blockBytes), new Uint8Array(first * q.blockBytes)] : undefined;
  const outs = opts.reuseBuffers ? [new Float32Array(first * q.blockElems), new Float32Array(first * q.blockElems)] : undefined;
  const base = t.location.storageByteOffset;
  const fetch = async (block: number, n: number, slot: number): Promise<Uint8Array> => {
    if (!pool) return t.location.source.read(base + block * q.blockBytes, n * q.blockBytes);
    const buf = pool[slot].subarray(0, n * q.blockBytes);
    await t.location.source.readInto(base + block * q.blockBytes, buf);
    return buf;
  };
  let next: Promise<Uint8Array> | undefined = fetch(0, first, 0);
  for (let done = 0, i = 0; done < totalBlocks; i++) {
    if (opts.isCancelled?.()) throw new CancelledError();
    if (i % 64 === 63) await new Promise<void>((r) => setImmediate(r));
    const n = Math.min(per, totalBlocks - done);
    const bytes: Uint8Array = await next!;
    const after = done + n;
    next = after < totalBlocks ? fetch(after, Math.min(per, totalBlocks - after), (i + 1) % 2) : undefined;
    next?.catch(() => undefined);
    const values = outs ? outs[i % 2].subarray(0, n * q.blockElems) : new Float32Array(n * q.blockElems);
    q.kernel(bytes, n, values);
    yield values;
    done = after;
  }
}

function* gather(t: TensorInfo, all: Decoded, base: number, chunkElems: number, check: () => void): Generator<Decoded> {
  const { shape } = t;
  const strides = t.location.strides;
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let off = t.location.elementOffset - base;
  let out = all instanceof Float64Array ? new Float64Array(Math.min(chunkElems, t.numel)) : new Float32Array(Math.min(chunkElems, t.numel));
  let k = 0;
  for (let n = 0; n < t.numel; n++) {
    out[k++] = all[off];
    if (k === out.length) {
      check();
      yield out;
      const left = t.numel - n - 1;
      out = all instanceof Float64Array ? new Float64Array(Math.min(chunkElems, left)) : new Float32Array(Math.min(chunkElems, left));
      k = 0;
    }
    // Odometer increment over the shape, moving `off` by the strides.
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= (shape[d] - 1) * strides[d];
      idx[d] = 0;
    }
  }
  if (k > 0) yield out.subarray(0, k);
}

/** All values of a tensor, decoded; refuses tensors over `maxElements`. */
export async function readTensor(t: TensorInfo, maxElements = 64 * 1024 * 1024, opts: ReadOptions = {}): Promise<Decoded> {
  if (t.numel > maxElements) throw new CheckpointError(t.location.source.label, `tensor "${t.name}" has ${t.numel} elements, more than ${maxElements} allowed here`);
  const chunks: Decoded[] = [];
  for await (const c of tensorChunks(t, opts)) chunks.push(c);
  // Complex elements decode to (re, im) pairs.
  const values = isComplex(t.dtype) ? 2 * t.numel : t.numel;
  if (chunks.length === 1 && chunks[0].length === values) return chunks[0];
  const wide = chunks.some((c) => c instanceof Float64Array);
  const out = wide ? new Float64Array(values) : new Float32Array(values);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export interface Slice2D {
  rows: number;
  cols: number;
  /** rows × cols values, row-major; each value is the mean of `colStep` source columns. */
  values: Float32Array;
  /** Source row index of each row shown. */
  rowIndex: number[];
  /** Source columns averaged into one shown column (1 when not downsampled). */
  colStep: number;
  /** The 2-D view of the tensor: [shape[0], prod(rest)] (a 1-D tensor is one row). */
  sourceShape: [number, number];
}

/**
 * A downsampled 2-D picture of a tensor for a heatmap: up to maxRows evenly spaced rows,
 * each row's columns averaged into up to maxCols bins. Reads only the chosen rows when the
 * tensor is contiguous.
 */
export async function readSlice2D(t: TensorInfo, maxRows = 128, maxCols = 128, opts: ReadOptions = {}): Promise<Slice2D> {
  if (isComplex(t.dtype)) throw new CheckpointError(t.location.source.label, `tensor "${t.name}" is complex; no heatmap`);
  const R = t.shape.length >= 2 ? t.shape[0] : 1;
  const C = R === 0 ? 0 : t.numel / R;
  const rowIndex: number[] = [];
  const nRows = Math.min(R, maxRows);
  for (let i = 0; i < nRows; i++) rowIndex.push(Math.floor((i * R) / nRows));
  const cols = Math.min(C, maxCols);
  const colStep = cols === 0 ? 1 : C / cols;
  const values = new Float32Array(nRows * cols);
  if (t.numel === 0) return { rows: nRows, cols, values, rowIndex, colStep, sourceShape: [R, C] };

  const sums = new Float64Array(cols);
  const counts = new Uint32Array(cols);
  const flush = (r: number): void => {
    for (let c = 0; c < cols; c++) values[r * cols + c] = counts[c] ? sums[c] / counts[c] : NaN;
    sums.fill(0);
    counts.fill(0);
  };
  // Adds the row's values, starting at column `col0`, into the column bins.
  const addRowPart = (vals: Decoded, col0: number): void => {
    for (let j = 0; j < vals.length; j++) {
      const v = vals[j];
      if (v - v !== 0) continue; // skip NaN and ±Inf: they would wash out a whole bin
      const b = Math.min(cols - 1, Math.floor((col0 + j) / colStep));
      sums[b] += v;
      counts[b]++;
    }
  };

  if (t.quant) {
    // Rows of the 2-D view are whole GGUF rows (ne[0] divides C), so whole blocks.
    const q = quantKernel(t);
    const perBlocks = Math.max(1, Math.floor((opts.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 4 / q.blockElems));
    const rowBlocks = C / q.blockElems;
    for (let r = 0; r < nRows; r++) {
      if (opts.isCancelled?.()) throw new CancelledError();
      const b0 = rowIndex[r] * rowBlocks;
      for (let b = 0; b < rowBlocks; b += perBlocks) {
        const n = Math.min(perBlocks, rowBlocks - b);
        addRowPart(await readQuantBlocks(t, b0 + b, n), b * q.blockElems);
      }
      flush(r);
    }
  } else if (isContiguous(t.shape, t.location.strides)) {
    elementSpan(t);
    const size = dtypeSize(t.dtype);
    const per = Math.max(1, Math.floor((opts.chunkBytes ?? DEFAULT_CHUNK_BYTES) / size));
    for (let r = 0; r < nRows; r++) {
      if (opts.isCancelled?.()) throw new CancelledError();
      const rowStart = t.location.elementOffset + rowIndex[r] * C;
      for (let c0 = 0; c0 < C; c0 += per) {
        const n = Math.min(per, C - c0);
        addRowPart(decode(await readBytes(t, rowStart + c0, n), t.dtype), c0);
      }
      flush(r);
    }
  } else if (storedView(t).weight > 1 && t.shape.length >= 2) {
    // Broadcast view: walk only the chosen rows, each a view of its own (a logical walk of
    // the whole tensor could be 2^40 elements).
    const { strides, elementOffset } = t.location;
    for (let r = 0; r < nRows; r++) {
      if (opts.isCancelled?.()) throw new CancelledError();
      const row: TensorInfo = { ...t, name: `${t.name}[${rowIndex[r]}]`, shape: t.shape.slice(1), numel: C, nbytes: C * dtypeSize(t.dtype), location: { ...t.location, elementOffset: elementOffset + rowIndex[r] * strides[0], strides: strides.slice(1) } };
      let col = 0;
      for await (const chunk of tensorChunks(row, opts)) {
        addRowPart(chunk, col);
        col += chunk.length;
      }
      flush(r);
    }
  } else {
    // Strided view: walk all values in C order and keep the chosen rows.
    let r = 0;
    let flat = 0;
    for await (const chunk of tensorChunks(t, opts)) {
      let j = 0;
      while (j < chunk.length && r < nRows) {
        const row = Math.floor(flat / C);
        const col = flat % C;
        const take = Math.min(chunk.length - j, C - col);
        if (row === rowIndex[r]) {
          addRowPart(chunk.subarray(j, j + take), col);
          if (col + take === C) flush(r++);
        }
        j += take;
        flat += take;
      }
    }
  }
  return { rows: nRows, cols, values, rowIndex, colStep, sourceShape: [R, C] };
}
