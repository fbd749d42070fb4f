// numpy values inside pickles (training checkpoints that keep arrays, scalars and RNG states
// beside the state dict): `_reconstruct` + BUILD state becomes an array whose bytes are in the
// pickle, `scalar(dtype, bytes)` a number, `dtype(...)` + BUILD a descriptor. Data only: numpy
// is never imported, and object arrays (whose items are pickles) stay inert.
import type { DType } from '../core/dtype';
import { PyObject, type PyValue, type NdArrayRef, isTuple, pyTypeName, tuple } from './pickleObjects';

const KINDS: Record<string, Partial<Record<number, DType>>> = {
  f: { 2: 'F16', 4: 'F32', 8: 'F64' },
  c: { 8: 'C64', 16: 'C128' },
  i: { 1: 'I8', 2: 'I16', 4: 'I32', 8: 'I64' },
  u: { 1: 'U8', 2: 'U16', 4: 'U32', 8: 'U64' },
  b: { 1: 'BOOL' },
};

/** Arrays bigger than this inside a pickle are refused (the pickle itself is capped too). */
const MAX_ARRAY_BYTES = 512 * 1024 * 1024;

export interface NumpyDescr {
  kind: string;
  size: number;
  byteOrder: 'little' | 'big';
  /** Our dtype; undefined for kinds we do not decode (objects, strings, records, extended floats). */
  dtype?: DType;
  /** x87 extended precision (`longdouble`), converted to float64 when read. */
  longDouble: boolean;
  descr: string;
}

/** The descriptor of a pickled `numpy.dtype(...)` object (REDUCE args + BUILD state). */
export function numpyDescr(v: PyValue): NumpyDescr | undefined {
  if (!(v instanceof PyObject) || !v.type.startsWith('numpy.') || !/\.dtype$|dtypes\.\w+DType$/.test(v.type)) return undefined;
  const code = v.args[0];
  if (typeof code !== 'string') return undefined;
  const m = /^([a-zA-Z?])(\d*)$/.exec(code);
  if (!m) return undefined;
  const kind = m[1] === '?' ? 'b' : m[1];
  const size = m[2] ? Number(m[2]) : kind === 'b' ? 1 : 0;
  // BUILD state: (version, byteorder char, subarray, names, fields, elsize, alignment, flags).
  const st = v.state;
  const order = isTuple(st as PyValue) && typeof (st as PyValue[])[1] === 'string' ? ((st as PyValue[])[1] as string) : '=';
  const hasFields = isTuple(st as PyValue) && ((st as PyValue[])[3] !== null && (st as PyValue[])[3] !== undefined);
  const byteOrder = order === '>' ? 'big' : 'little';
  const longDouble = kind === 'f' && (size === 16 || size === 12);
  const dtype = hasFields ? undefined : KINDS[kind]?.[size];
  const prefix = size <= 1 ? '|' : byteOrder === 'big' ? '>' : '<';
  return { kind, size, byteOrder, dtype, longDouble, descr: `${prefix}${kind}${size}` };
}

/** The array a `_reconstruct` object's BUILD state describes, or undefined for object/string arrays. */
export function decodeNumpyArray(state: PyValue, fail: (m: string) => never): NdArrayRef | undefined {
  if (!isTuple(state) || (state.length !== 5 && state.length !== 4)) fail(`numpy array state must be a 4- or 5-tuple, not ${pyTypeName(state)}`);
  const [shapeV, dtypeV, fortranV, raw] = state.length === 5 ? state.slice(1) : state;
  const d = numpyDescr(dtypeV);
  if (!d) {
    if (dtypeV instanceof PyObject) return undefined;
    fail(`numpy array dtype must be a numpy.dtype, not ${pyTypeName(dtypeV)}`);
  }
  if (!Array.isArray(shapeV) || shapeV.length > 64) fail('numpy array shape must be a tuple of at most 64 sizes');
  const shape = shapeV.map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(`numpy array size ${String(x)} is not a non-negative integer`);
    return x;
  });
  if (!d.dtype && !d.longDouble) return undefined; // objects, strings, records: shown inertly
  if (!(raw instanceof Uint8Array)) {
    if (raw !== null && typeof raw === 'object') return undefined;
    fail(`numpy array data must be bytes, not ${pyTypeName(raw)}`);
  }
  let numel = 1;
  for (const s of shape) numel *= s;
  if (!Number.isSafeInteger(numel) || numel * d.size > MAX_ARRAY_BYTES) fail(`numpy array of shape [${shape}] is too large`);
  if (raw.length !== numel * d.size) fail(`numpy array of shape [${shape}] and dtype ${d.descr} needs ${numel * d.size} bytes, the pickle holds ${raw.length}`);
  const fortran = fortranV === true || fortranV === 1;
  const strides = fortran ? fortranOrder(shape) : cOrder(shape);
  if (d.longDouble) {
    return { dtype: 'F64', descr: d.descr, shape, strides, byteOrder: 'little', data: longDoubleToF64(raw, d.size, d.byteOrder), note: 'longdouble converted to float64' };
  }
  return { dtype: d.dtype as DType, descr: d.descr, shape, strides, byteOrder: d.byteOrder, data: raw };
}

/** `numpy.core.multiarray.scalar(dtype, bytes)`: the number it holds, or undefined if not numeric. */
export function decodeNumpyScalar(args: PyValue[], fail: (m: string) => never): PyValue | undefined {
  const d = numpyDescr(args[0]);
  if (!d) return undefined;
  const raw = args[1];
  if (!(raw instanceof Uint8Array)) return undefined; // object scalars carry the object itself
  if (raw.length !== d.size) fail(`numpy ${d.descr} scalar holds ${raw.length} bytes, expected ${d.size}`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const le = d.byteOrder === 'little';
  if (d.longDouble) return new DataView(longDoubleToF64(raw, d.size, d.byteOrder).buffer).getFloat64(0, true);
  switch (d.dtype) {
    case 'BOOL': return raw[0] !== 0;
    case 'I8': return dv.getInt8(0);
    case 'U8': return dv.getUint8(0);
    case 'I16': return dv.getInt16(0, le);
    case 'U16': return dv.getUint16(0, le);
    case 'I32': return dv.getInt32(0, le);
    case 'U32': return dv.getUint32(0, le);
    case 'I64': return narrowBig(dv.getBigInt64(0, le));
    case 'U64': return narrowBig(dv.getBigUint64(0, le));
    case 'F16': return f16(dv.getUint16(0, le));
    case 'F32': return dv.getFloat32(0, le);
    case 'F64': return dv.getFloat64(0, le);
    case 'C64': return new PyObject('builtins.complex', tuple([dv.getFloat32(0, le), dv.getFloat32(4, le)]));
    case 'C128': return new PyObject('builtins.complex', tuple([dv.getFloat64(0, le), dv.getFloat64(8, le)]));
    default: return undefined;
  }
}

function narrowBig(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function cOrder(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function fortranOrder(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = 0; i < shape.length; i++) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * x87 80-bit extended floats (numpy `longdouble` on x86, stored in 12 or 16 bytes) to
 * little-endian float64 bytes, rounded to nearest as numpy's `astype(float64)` does.
 */
export function longDoubleToF64(raw: Uint8Array, size: number, byteOrder: 'little' | 'big'): Uint8Array {
  const n = Math.floor(raw.length / size);
  const out = new Uint8Array(n * 8);
  const ov = new DataView(out.buffer);
  const b = new Uint8Array(10);
  for (let i = 0; i < n; i++) {
    // The 10 significant bytes, little-endian.
    for (let k = 0; k < 10; k++) b[k] = byteOrder === 'little' ? raw[i * size + k] : raw[i * size + size - 1 - k];
    const se = b[8] | (b[9] << 8);
    const sign = se & 0x8000 ? -1 : 1;
    const exp = se & 0x7fff;
    let mant = 0n;
    for (let k = 7; k >= 0; k--) mant = (mant << 8n) | BigInt(b[k]);
    let v: number;
    if (exp === 0x7fff) v = (mant & 0x7fffffffffffffffn) === 0n ? sign * Infinity : NaN;
    else if (mant === 0n) v = sign * 0;
    else {
      // value = mant × 2^(e − 16383 − 63); scale in steps so neither factor over- or underflows early.
      let e = (exp === 0 ? 1 : exp) - 16383 - 63;
      let m = mant;
      // Keep 54 significant bits with a sticky bit, so Number(m) rounds once, correctly.
      const bits = m.toString(2).length;
      if (bits > 64) m >>= BigInt(bits - 64);
      let x = Number(m);
      while (e > 0) {
        const step = Math.min(e, 1000);
        x *= 2 ** step;
        e -= step;
      }
      while (e < 0) {
        const step = Math.max(e, -1000);
        x *= 2 ** step;
        e -= step;
      }
      v = sign * x;
    }
    ov.setFloat64(i * 8, v, true);
  }
  return out;
}
