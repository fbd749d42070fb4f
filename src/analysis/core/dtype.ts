// Element types, named as safetensors names them (the names our JSON output uses too),
// and decoders from raw little-endian bytes to JS numbers.

export const DTYPES = [
  'BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'I64', 'U64',
  'F16', 'BF16', 'F32', 'F64',
  'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ',
  'C64', 'C128',
] as const;
export type DType = (typeof DTYPES)[number];

const SIZES: Record<DType, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1, F8_E4M3FNUZ: 1, F8_E5M2FNUZ: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8, C64: 8,
  C128: 16,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(SIZES, s);
}

export function dtypeSize(d: DType): number {
  return SIZES[d];
}

export function isFloating(d: DType): boolean {
  return d === 'F16' || d === 'BF16' || d === 'F32' || d === 'F64' || d.startsWith('F8_');
}

export function isComplex(d: DType): boolean {
  return d === 'C64' || d === 'C128';
}

/** Decoded values: f32-representable dtypes decode to Float32Array, wider ones to Float64Array. */
export type Decoded = Float32Array | Float64Array;

export function decodesToF64(d: DType): boolean {
  return d === 'F64' || d === 'I32' || d === 'U32' || d === 'I64' || d === 'U64';
}

// --- 8-bit float tables, built once -------------------------------------------------------

function buildF8Table(expBits: number, manBits: number, bias: number, kind: 'ieee' | 'fn' | 'fnuz'): Float32Array {
  const t = new Float32Array(256);
  const expMax = (1 << expBits) - 1;
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const e = (b >> manBits) & expMax;
    const m = b & ((1 << manBits) - 1);
    let v: number;
    if (kind === 'fnuz' && b === 0x80) v = NaN;
    else if (kind === 'ieee' && e === expMax) v = m === 0 ? sign * Infinity : NaN;
    else if (kind === 'fn' && e === expMax && m === (1 << manBits) - 1) v = NaN;
    else if (e === 0) v = sign * m * 2 ** (1 - bias - manBits);
    else v = sign * (1 + m / (1 << manBits)) * 2 ** (e - bias);
    t[b] = v;
  }
  return t;
}

let f8Tables: Partial<Record<DType, Float32Array>> | undefined;
function f8Table(d: DType): Float32Array {
  if (!f8Tables) {
    const e8m0 = new Float32Array(256);
    for (let b = 0; b < 256; b++) e8m0[b] = b === 255 ? NaN : 2 ** (b - 127);
    f8Tables = {
      F8_E4M3: buildF8Table(4, 3, 7, 'fn'),
      F8_E5M2: buildF8Table(5, 2, 15, 'ieee'),
      F8_E4M3FNUZ: buildF8Table(4, 3, 8, 'fnuz'),
      F8_E5M2FNUZ: buildF8Table(5, 2, 16, 'fnuz'),
      F8_E8M0: e8m0,
    };
  }
  return f8Tables[d]!;
}

let f16Table: Float32Array | undefined;
/** All 65536 half-precision values, so decoding is one table lookup per element. */
export function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      f16Table[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
    }
  }
  return f16Table;
}

/** Reverses the bytes of each element in place (for big-endian storages). */
export function byteSwap(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let i = 0; i + elementSize <= bytes.length; i += elementSize) {
    for (let a = i, b = i + elementSize - 1; a < b; a++, b--) {
      const t = bytes[a]; bytes[a] = bytes[b]; bytes[b] = t;
    }
  }
}

/**
 * Decodes `bytes` (little-endian, `dtype`) into numbers. When the bytes are F32 or F64 and
 * suitably aligned, returns a view without copying. Complex dtypes decode to interleaved
 * (re, im) pairs. Trailing bytes that do not make a whole element are ignored. `scratch`, when
 * given and of the right type and size, receives the values instead of a new array.
 */
export function decode(bytes: Uint8Array, dtype: DType, scratch?: Decoded): Decoded {
  const size = dtypeSize(dtype);
  const n = Math.floor(bytes.byteLength / size);
  const off = bytes.byteOffset;
  const buf = bytes.buffer;
  const f32 = (): Float32Array => (scratch instanceof Float32Array && scratch.length >= n ? scratch.subarray(0, n) : new Float32Array(n));
  const f64 = (): Float64Array => (scratch instanceof Float64Array && scratch.length >= n ? scratch.subarray(0, n) : new Float64Array(n));
  switch (dtype) {
    case 'F32':
    case 'C64':
      if (off % 4 === 0) return new Float32Array(buf, off, (n * size) / 4);
      return new Float32Array(bytes.slice(0, n * size).buffer);
    case 'F64':
    case 'C128':
      if (off % 8 === 0) return new Float64Array(buf, off, (n * size) / 8);
      return new Float64Array(bytes.slice(0, n * size).buffer);
    case 'BF16': {
      const out = f32();
      const u = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0, j = 0; i < n; i++, j += 2) u[i] = (bytes[j] | (bytes[j + 1] << 8)) << 16;
      return out;
    }
    case 'F16': {
      const t = halfTable();
      const out = f32();
      for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = t[bytes[j] | (bytes[j + 1] << 8)];
      return out;
    }
    case 'F8_E4M3': case 'F8_E5M2': case 'F8_E8M0': case 'F8_E4M3FNUZ': case 'F8_E5M2FNUZ': {
      const t = f8Table(dtype);
      const out = f32();
      for (let i = 0; i < n; i++) out[i] = t[bytes[i]];
      return out;
    }
    case 'BOOL': {
      const out = f32();
      for (let i = 0; i < n; i++) out[i] = bytes[i] ? 1 : 0;
      return out;
    }
    case 'U8': { const out = f32(); out.set(bytes.subarray(0, n)); return out; }
    case 'I8': { const out = f32(); out.set(new Int8Array(buf, off, n)); return out; }
    case 'I16': case 'U16': {
      const dv = new DataView(buf, off, n * 2);
      const out = f32();
      if (dtype === 'I16') for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      else for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      return out;
    }
    case 'I32': case 'U32': {
      const dv = new DataView(buf, off, n * 4);
      const out = f64();
      if (dtype === 'I32') for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      else for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
      return out;
    }
    case 'I64': case 'U64': {
      // Exact up to 2^53; beyond that the nearest double (fine for statistics).
      const dv = new DataView(buf, off, n * 8);
      const out = f64();
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(i * 8, true);
        const hi = dtype === 'I64' ? dv.getInt32(i * 8 + 4, true) : dv.getUint32(i * 8 + 4, true);
        out[i] = hi * 4294967296 + lo;
      }
      return out;
    }
  }
}

/** Exact integer values as strings (for I64/U64 scalars shown to the user). */
export function decodeBigInts(bytes: Uint8Array, dtype: 'I64' | 'U64'): bigint[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: bigint[] = [];
  for (let i = 0; i + 8 <= bytes.byteLength; i += 8) out.push(dtype === 'I64' ? dv.getBigInt64(i, true) : dv.getBigUint64(i, true));
  return out;
}
