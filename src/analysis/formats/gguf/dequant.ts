// Dequantization of ggml's block formats, one kernel per type, following ggml's
// `dequantize_row_*` (ggml-quants.c) and gguf-py's `quants.py` bit for bit: every value is
// computed in float64 from exactly representable parts and rounded once to float32, which equals
// ggml's float32 arithmetic here (each product of a half-precision scale and a small integer is
// exact, so only the last operation rounds). Block layouts: research/anchors.md §3.2.
import { halfTable } from '../../core/dtype';
import { SIMD_TYPES, simdKernel } from './simdKernels';

/** Decodes `nBlocks` consecutive blocks starting at `src[0]` into `out[0 .. nBlocks·blockElems)`. */
export type Kernel = (src: Uint8Array, nBlocks: number, out: Float32Array) => void;

export const QK_K = 256;

/** Non-linear 4-bit codebook of IQ4_NL / IQ4_XS (ggml's kvalues_iq4nl). */
const KV_IQ4NL = new Int8Array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);
/** E2M1 values doubled (ggml's kvalues_mxfp4); the scale carries the ½. */
const KV_FP4 = new Int8Array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

// Speed (bench/gguf-bench.mjs): V8 holds every value as a double, so each output costs an
// int→double conversion, a multiply and a rounding store. The inner loops are unrolled by four so
// V8 checks bounds and advances indices once per group, scales are hoisted into locals (a typed
// array read inside the loop is re-read per element), and the per-block scales of the FP4 types,
// which take one of 256 byte values, come from global tables of all their products. The types
// where numpy's vectorised arithmetic stays close (8-bit, 2-bit, Q6_K, TQ1_0) run as WebAssembly
// SIMD kernels instead (simdKernels.ts); these JavaScript ones remain their fallback and reference.

const q4_0: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 18, y += 32) {
    const d = h[dv.getUint16(o, true)];
    // Four bytes per load: byte k's low nibble is value j+k, its high nibble value j+16+k.
    for (let j = 0; j < 16; j += 4) {
      const w = dv.getInt32(o + 2 + j, true);
      out[y + j] = d * ((w & 15) - 8);
      out[y + j + 1] = d * (((w >> 8) & 15) - 8);
      out[y + j + 2] = d * (((w >> 16) & 15) - 8);
      out[y + j + 3] = d * (((w >> 24) & 15) - 8);
      out[y + j + 16] = d * (((w >> 4) & 15) - 8);
      out[y + j + 17] = d * (((w >> 12) & 15) - 8);
      out[y + j + 18] = d * (((w >> 20) & 15) - 8);
      out[y + j + 19] = d * ((w >>> 28) - 8);
    }
  }
};

const q4_1: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 20, y += 32) {
    const d = h[dv.getUint16(o, true)];
    const m = h[dv.getUint16(o + 2, true)];
    for (let j = 0; j < 16; j += 4) {
      const w = dv.getInt32(o + 4 + j, true);
      out[y + j] = (w & 15) * d + m;
      out[y + j + 1] = ((w >> 8) & 15) * d + m;
      out[y + j + 2] = ((w >> 16) & 15) * d + m;
      out[y + j + 3] = ((w >> 24) & 15) * d + m;
      out[y + j + 16] = ((w >> 4) & 15) * d + m;
      out[y + j + 17] = ((w >> 12) & 15) * d + m;
      out[y + j + 18] = ((w >> 20) & 15) * d + m;
      out[y + j + 19] = (w >>> 28) * d + m;
    }
  }
};

/** The fifth bit of value j of a Q5 block is bit j of the u32 qh (j < 16), or bit j + 12 for value j + 16. */
const q5_0: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 22, y += 32) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const qh = (src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24)) >>> 0;
    for (let j = 0, q = o + 6; j < 16; j += 2) {
      const a0 = src[q + j], a1 = src[q + j + 1];
      out[y + j] = d * (((a0 & 15) | (((qh >>> j) << 4) & 0x10)) - 16);
      out[y + j + 1] = d * (((a1 & 15) | (((qh >>> (j + 1)) << 4) & 0x10)) - 16);
      out[y + j + 16] = d * (((a0 >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16);
      out[y + j + 17] = d * (((a1 >> 4) | ((qh >>> (j + 13)) & 0x10)) - 16);
    }
  }
};

const q5_1: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 24, y += 32) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const m = h[src[o + 2] | (src[o + 3] << 8)];
    const qh = (src[o + 4] | (src[o + 5] << 8) | (src[o + 6] << 16) | (src[o + 7] << 24)) >>> 0;
    for (let j = 0, q = o + 8; j < 16; j += 2) {
      const a0 = src[q + j], a1 = src[q + j + 1];
      out[y + j] = ((a0 & 15) | (((qh >>> j) << 4) & 0x10)) * d + m;
      out[y + j + 1] = ((a1 & 15) | (((qh >>> (j + 1)) << 4) & 0x10)) * d + m;
      out[y + j + 16] = ((a0 >> 4) | ((qh >>> (j + 12)) & 0x10)) * d + m;
      out[y + j + 17] = ((a1 >> 4) | ((qh >>> (j + 13)) & 0x10)) * d + m;
    }
  }
};

/** out[y .. y+32) = d · int8 bytes [q, q+32): read as little-endian words, four values per load. */
function scale32(dv: DataView, q: number, d: number, out: Float32Array, y: number): void {
  for (let j = 0; j < 32; j += 8) {
    const w = dv.getInt32(q + j, true), x = dv.getInt32(q + j + 4, true);
    out[y + j] = d * ((w << 24) >> 24);
    out[y + j + 1] = d * ((w << 16) >> 24);
    out[y + j + 2] = d * ((w << 8) >> 24);
    out[y + j + 3] = d * (w >> 24);
    out[y + j + 4] = d * ((x << 24) >> 24);
    out[y + j + 5] = d * ((x << 16) >> 24);
    out[y + j + 6] = d * ((x << 8) >> 24);
    out[y + j + 7] = d * (x >> 24);
  }
}

/** Q8_0 and Q8_1 (whose second half is the block sum, unused for values). */
function q8Kernel(bytes: number, qsAt: number): Kernel {
  return (src, nBlocks, out) => {
    const h = halfTable();
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += bytes, y += 32) scale32(dv, o + qsAt, h[dv.getUint16(o, true)], out, y);
  };
}

const q2_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 84, y += QK_K) {
    const d = h[src[o + 80] | (src[o + 81] << 8)];
    const dmin = h[src[o + 82] | (src[o + 83] << 8)];
    // Each byte holds four 2-bit values, one per shift; read it once and write all four.
    // Half `half` uses scales 8·half … 8·half+7: sub-block k of the half is (dk, mk).
    for (let half = 0; half < 2; half++) {
      const q = o + 16 + 32 * half, yy = y + 128 * half, s = o + 8 * half;
      let sc = src[s];
      const d0 = d * (sc & 15), m0 = dmin * (sc >> 4);
      sc = src[s + 1];
      const d1 = d * (sc & 15), m1 = dmin * (sc >> 4);
      sc = src[s + 2];
      const d2 = d * (sc & 15), m2 = dmin * (sc >> 4);
      sc = src[s + 3];
      const d3 = d * (sc & 15), m3 = dmin * (sc >> 4);
      sc = src[s + 4];
      const d4 = d * (sc & 15), m4 = dmin * (sc >> 4);
      sc = src[s + 5];
      const d5 = d * (sc & 15), m5 = dmin * (sc >> 4);
      sc = src[s + 6];
      const d6 = d * (sc & 15), m6 = dmin * (sc >> 4);
      sc = src[s + 7];
      const d7 = d * (sc & 15), m7 = dmin * (sc >> 4);
      for (let l = 0; l < 16; l++) {
        const a = src[q + l], c = src[q + 16 + l];
        out[yy + l] = d0 * (a & 3) - m0;
        out[yy + 16 + l] = d1 * (c & 3) - m1;
        out[yy + 32 + l] = d2 * ((a >> 2) & 3) - m2;
        out[yy + 48 + l] = d3 * ((c >> 2) & 3) - m3;
        out[yy + 64 + l] = d4 * ((a >> 4) & 3) - m4;
        out[yy + 80 + l] = d5 * ((c >> 4) & 3) - m5;
        out[yy + 96 + l] = d6 * (a >> 6) - m6;
        out[yy + 112 + l] = d7 * (c >> 6) - m7;
      }
    }
  }
};

/** Q3_K's 16 six-bit scales of the block at `s` (low nibbles from bytes 0-7, high pairs from 8-11), minus 32. */
function q3Scale(src: Uint8Array, s: number, i: number): number {
  const lo = i < 8 ? src[s + i] & 15 : src[s + i - 8] >> 4;
  const hi = (src[s + 8 + (i & 3)] >> (2 * (i >> 2))) & 3;
  return (lo | (hi << 4)) - 32;
}

const q3_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 110, y += QK_K) {
    const d = h[src[o + 108] | (src[o + 109] << 8)];
    const s = o + 96;
    // Value k of a byte (shift 2k) takes bit 4·half + k of its hmask byte; a clear bit subtracts 4.
    for (let half = 0; half < 2; half++) {
      const q = o + 32 + 32 * half, yy = y + 128 * half, i = 8 * half, hs = 4 * half;
      const d0 = d * q3Scale(src, s, i), d1 = d * q3Scale(src, s, i + 1), d2 = d * q3Scale(src, s, i + 2), d3 = d * q3Scale(src, s, i + 3);
      const d4 = d * q3Scale(src, s, i + 4), d5 = d * q3Scale(src, s, i + 5), d6 = d * q3Scale(src, s, i + 6), d7 = d * q3Scale(src, s, i + 7);
      for (let l = 0; l < 16; l++) {
        const a = src[q + l], c = src[q + 16 + l];
        const ha = ~src[o + l] >> hs, hc = ~src[o + 16 + l] >> hs;
        out[yy + l] = d0 * ((a & 3) - ((ha & 1) << 2));
        out[yy + 16 + l] = d1 * ((c & 3) - ((hc & 1) << 2));
        out[yy + 32 + l] = d2 * (((a >> 2) & 3) - ((ha & 2) << 1));
        out[yy + 48 + l] = d3 * (((c >> 2) & 3) - ((hc & 2) << 1));
        out[yy + 64 + l] = d4 * (((a >> 4) & 3) - (ha & 4));
        out[yy + 80 + l] = d5 * (((c >> 4) & 3) - (hc & 4));
        out[yy + 96 + l] = d6 * ((a >> 6) - ((ha & 8) >> 1));
        out[yy + 112 + l] = d7 * ((c >> 6) - ((hc & 8) >> 1));
      }
    }
  }
};

/** ggml's get_scale_min_k4 for the 12 packed scale bytes at `s`: sub-block j's (scale, min). */
function scaleMinK4(src: Uint8Array, s: number, sc: Int32Array, mn: Int32Array): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      sc[j] = src[s + j] & 63;
      mn[j] = src[s + j + 4] & 63;
    } else {
      sc[j] = (src[s + j + 4] & 15) | ((src[s + j - 4] >> 6) << 4);
      mn[j] = (src[s + j + 4] >> 4) | ((src[s + j] >> 6) << 4);
    }
  }
}
const SC = new Int32Array(8), MN = new Int32Array(8);

const q4_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 144, y += QK_K) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const dmin = h[src[o + 2] | (src[o + 3] << 8)];
    scaleMinK4(src, o + 4, SC, MN);
    // Chunk j: 32 bytes, low nibbles are sub-block 2j, high nibbles 2j+1.
    for (let j = 0; j < 4; j++) {
      const d1 = d * SC[2 * j], m1 = dmin * MN[2 * j];
      const d2 = d * SC[2 * j + 1], m2 = dmin * MN[2 * j + 1];
      const q = o + 16 + 32 * j, yy = y + 64 * j;
      for (let l = 0; l < 32; l += 4) {
        const w = dv.getInt32(q + l, true);
        out[yy + l] = d1 * (w & 15) - m1;
        out[yy + l + 1] = d1 * ((w >> 8) & 15) - m1;
        out[yy + l + 2] = d1 * ((w >> 16) & 15) - m1;
        out[yy + l + 3] = d1 * ((w >> 24) & 15) - m1;
        out[yy + l + 32] = d2 * ((w >> 4) & 15) - m2;
        out[yy + l + 33] = d2 * ((w >> 12) & 15) - m2;
        out[yy + l + 34] = d2 * ((w >> 20) & 15) - m2;
        out[yy + l + 35] = d2 * (w >>> 28) - m2;
      }
    }
  }
};

const q5_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 176, y += QK_K) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const dmin = h[src[o + 2] | (src[o + 3] << 8)];
    scaleMinK4(src, o + 4, SC, MN);
    const qh = o + 16;
    for (let j = 0; j < 4; j++) {
      const d1 = d * SC[2 * j], m1 = dmin * MN[2 * j];
      const d2 = d * SC[2 * j + 1], m2 = dmin * MN[2 * j + 1];
      // The fifth bit of sub-block 2j (2j+1) is bit 2j (2j+1) of qh[l]: moved to bit 4 by shifting.
      const q = o + 48 + 32 * j, yy = y + 64 * j, s1 = 2 * j, s2 = 2 * j + 1;
      for (let l = 0; l < 32; l += 2) {
        const v0 = src[q + l], h0 = src[qh + l], v1 = src[q + l + 1], h1 = src[qh + l + 1];
        out[yy + l] = d1 * ((v0 & 15) | (((h0 >> s1) & 1) << 4)) - m1;
        out[yy + l + 1] = d1 * ((v1 & 15) | (((h1 >> s1) & 1) << 4)) - m1;
        out[yy + l + 32] = d2 * ((v0 >> 4) | (((h0 >> s2) & 1) << 4)) - m2;
        out[yy + l + 33] = d2 * ((v1 >> 4) | (((h1 >> s2) & 1) << 4)) - m2;
      }
    }
  }
};

const q6_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 210, y += QK_K) {
    const d = h[src[o + 208] | (src[o + 209] << 8)];
    // Each 128-half: ql[l], ql[l+32] low/high nibbles and qh[l]'s four bit pairs give y[l + 32k]
    // with scale is+2k, is = l/16. d·sc is exact, so (d·sc)·q rounds once, as ggml's does.
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half, qh = o + 128 + 32 * half, sc = o + 192 + 8 * half, yy = y + 128 * half;
      for (let is = 0; is < 2; is++) {
        const a0 = d * s8[sc + is], a1 = d * s8[sc + is + 2], a2 = d * s8[sc + is + 4], a3 = d * s8[sc + is + 6];
        for (let l = 16 * is, e = l + 16; l < e; l += 2) {
          const a = src[ql + l], c = src[ql + l + 32], hb = src[qh + l];
          const a_ = src[ql + l + 1], c_ = src[ql + l + 33], hb_ = src[qh + l + 1];
          out[yy + l] = a0 * (((a & 15) | ((hb & 3) << 4)) - 32);
          out[yy + l + 1] = a0 * (((a_ & 15) | ((hb_ & 3) << 4)) - 32);
          out[yy + l + 32] = a1 * (((c & 15) | ((hb & 12) << 2)) - 32);
          out[yy + l + 33] = a1 * (((c_ & 15) | ((hb_ & 12) << 2)) - 32);
          out[yy + l + 64] = a2 * (((a >> 4) | (hb & 48)) - 32);
          out[yy + l + 65] = a2 * (((a_ >> 4) | (hb_ & 48)) - 32);
          out[yy + l + 96] = a3 * (((c >> 4) | ((hb >> 2) & 48)) - 32);
          out[yy + l + 97] = a3 * (((c_ >> 4) | ((hb_ >> 2) & 48)) - 32);
        }
      }
    }
  }
};

const q8_K: Kernel = (src, nBlocks, out) => {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 292, y += QK_K) {
    const d = dv.getFloat32(o, true);
    for (let j = 0; j < QK_K; j += 32) scale32(dv, o + 4 + j, d, out, y + j);
  }
};

/** 32 values d·kv[nibble] from 16 bytes at q: low nibble → j, high nibble → j + 16. */
function iq4Block(dv: DataView, q: number, d: number, out: Float32Array, y: number): void {
  for (let j = 0; j < 16; j += 4) {
    const w = dv.getInt32(q + j, true);
    out[y + j] = d * KV_IQ4NL[w & 15];
    out[y + j + 1] = d * KV_IQ4NL[(w >> 8) & 15];
    out[y + j + 2] = d * KV_IQ4NL[(w >> 16) & 15];
    out[y + j + 3] = d * KV_IQ4NL[(w >> 24) & 15];
    out[y + j + 16] = d * KV_IQ4NL[(w >> 4) & 15];
    out[y + j + 17] = d * KV_IQ4NL[(w >> 12) & 15];
    out[y + j + 18] = d * KV_IQ4NL[(w >> 20) & 15];
    out[y + j + 19] = d * KV_IQ4NL[w >>> 28];
  }
}

const iq4_nl: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 18, y += 32) iq4Block(dv, o + 2, h[dv.getUint16(o, true)], out, y);
};

const iq4_xs: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 136, y += QK_K) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const scalesH = src[o + 2] | (src[o + 3] << 8);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((src[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((scalesH >> (2 * ib)) & 3) << 4);
      iq4Block(dv, o + 8 + 16 * ib, d * (ls - 32), out, y + 32 * ib);
    }
  }
};

/** Float32 bit patterns of scale(x) × kv_fp4[nibble] for all 256 one-byte scales x: entry 16x + nibble. */
function fp4Table(scale: (x: number) => number): Int32Array {
  const t = new Float32Array(256 * 16);
  for (let x = 0; x < 256; x++) for (let n = 0; n < 16; n++) t[16 * x + n] = scale(x) * KV_FP4[n];
  return new Int32Array(t.buffer);
}
let mxTable: Int32Array | undefined, nvTable: Int32Array | undefined;

/** 2n values from n bytes of nibbles at q (n a multiple of 4) through table row t: low → j, high → j + n. */
function fp4Values(src: Uint8Array, q: number, n: number, tab: Int32Array, t: number, o32: Int32Array, y: number): void {
  for (let j = 0; j < n; j += 4) {
    const a0 = src[q + j], a1 = src[q + j + 1], a2 = src[q + j + 2], a3 = src[q + j + 3];
    o32[y + j] = tab[t + (a0 & 15)];
    o32[y + j + 1] = tab[t + (a1 & 15)];
    o32[y + j + 2] = tab[t + (a2 & 15)];
    o32[y + j + 3] = tab[t + (a3 & 15)];
    o32[y + j + n] = tab[t + (a0 >> 4)];
    o32[y + j + n + 1] = tab[t + (a1 >> 4)];
    o32[y + j + n + 2] = tab[t + (a2 >> 4)];
    o32[y + j + n + 3] = tab[t + (a3 >> 4)];
  }
}

const mxfp4: Kernel = (src, nBlocks, out) => {
  // ggml_e8m0_to_fp32_half: 2^(e-127) / 2, the half matching the doubled E2M1 table.
  const t = (mxTable ??= fp4Table((e) => 2 ** (e - 128)));
  const o32 = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 17, y += 32) fp4Values(src, o + 1, 16, t, src[o] << 4, o32, y);
};

/** ggml_ue4m3_to_fp32: unsigned E4M3 (bias 7) times ½; 0 and 0x7F decode to 0. */
function ue4m3Half(x: number): number {
  if (x === 0 || x === 0x7f) return 0;
  const e = (x >> 3) & 15, m = x & 7;
  return (e === 0 ? m * 2 ** -9 : (1 + m / 8) * 2 ** (e - 7)) * 0.5;
}

const nvfp4: Kernel = (src, nBlocks, out) => {
  const t = (nvTable ??= fp4Table((x) => Math.fround(ue4m3Half(x))));
  const o32 = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 36, y += 64) {
    for (let s = 0; s < 4; s++) fp4Values(src, o + 4 + 8 * s, 8, t, src[o + s] << 4, o32, y + 16 * s);
  }
};

/** TQ1_0's base-3 digits minus 1: entry 5v + k is digit k of byte v, a fixed-point fraction ((v·3^k mod 256)·3) >> 8. */
const TRITS = (() => {
  const t = new Int8Array(256 * 5);
  for (let v = 0; v < 256; v++) for (let k = 0, p = 1; k < 5; k++, p *= 3) t[5 * v + k] = ((((v * p) & 255) * 3) >> 8) - 1;
  return t;
})();

const tq1_0: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 54, y += QK_K) {
    const d = h[src[o + 52] | (src[o + 53] << 8)];
    // Bytes 0-31 hold five digits each (y[32k + l]), 32-47 five (y[160 + 16k + l]), 48-51 four (y[240 + 4k + l]).
    for (let l = 0; l < 32; l++) {
      const v = 5 * src[o + l];
      out[y + l] = d * TRITS[v];
      out[y + 32 + l] = d * TRITS[v + 1];
      out[y + 64 + l] = d * TRITS[v + 2];
      out[y + 96 + l] = d * TRITS[v + 3];
      out[y + 128 + l] = d * TRITS[v + 4];
    }
    for (let l = 0; l < 16; l++) {
      const v = 5 * src[o + 32 + l];
      out[y + 160 + l] = d * TRITS[v];
      out[y + 176 + l] = d * TRITS[v + 1];
      out[y + 192 + l] = d * TRITS[v + 2];
      out[y + 208 + l] = d * TRITS[v + 3];
      out[y + 224 + l] = d * TRITS[v + 4];
    }
    for (let l = 0; l < 4; l++) {
      const v = 5 * src[o + 48 + l];
      out[y + 240 + l] = d * TRITS[v];
      out[y + 244 + l] = d * TRITS[v + 1];
      out[y + 248 + l] = d * TRITS[v + 2];
      out[y + 252 + l] = d * TRITS[v + 3];
    }
  }
};

const tq2_0: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 66, y += QK_K) {
    const d = h[dv.getUint16(o + 64, true)];
    // Byte l of group g holds y[128g + 32k + l] in bits 2k, 2k+1; four bytes per load.
    for (let g = 0; g < 2; g++) {
      const q = o + 32 * g, yy = y + 128 * g;
      for (let l = 0; l < 32; l += 4) {
        const w = dv.getInt32(q + l, true), z = yy + l;
        out[z] = d * ((w & 3) - 1);
        out[z + 1] = d * (((w >> 8) & 3) - 1);
        out[z + 2] = d * (((w >> 16) & 3) - 1);
        out[z + 3] = d * (((w >> 24) & 3) - 1);
        out[z + 32] = d * (((w >> 2) & 3) - 1);
        out[z + 33] = d * (((w >> 10) & 3) - 1);
        out[z + 34] = d * (((w >> 18) & 3) - 1);
        out[z + 35] = d * (((w >> 26) & 3) - 1);
        out[z + 64] = d * (((w >> 4) & 3) - 1);
        out[z + 65] = d * (((w >> 12) & 3) - 1);
        out[z + 66] = d * (((w >> 20) & 3) - 1);
        out[z + 67] = d * (((w >> 28) & 3) - 1);
        out[z + 96] = d * (((w >> 6) & 3) - 1);
        out[z + 97] = d * (((w >> 14) & 3) - 1);
        out[z + 98] = d * (((w >> 22) & 3) - 1);
        out[z + 99] = d * ((w >>> 30) - 1);
      }
    }
  }
};

/** The JavaScript kernels (every decoded type); tests check them as well as the SIMD ones. */
export const JS_KERNELS: Record<string, Kernel> = {
  Q4_0: q4_0,
  Q4_1: q4_1,
  Q5_0: q5_0,
  Q5_1: q5_1,
  Q8_0: q8Kernel(34, 2),
  Q8_1: q8Kernel(36, 4),
  Q2_K: q2_K,
  Q3_K: q3_K,
  Q4_K: q4_K,
  Q5_K: q5_K,
  Q6_K: q6_K,
  Q8_K: q8_K,
  IQ4_NL: iq4_nl,
  IQ4_XS: iq4_xs,
  MXFP4: mxfp4,
  NVFP4: nvfp4,
  TQ1_0: tq1_0,
  TQ2_0: tq2_0,
};

/** The kernels in use: WebAssembly SIMD for the types it serves (simdKernels.ts), JavaScript for the rest. */
export const KERNELS: Record<string, Kernel> = {
  ...JS_KERNELS,
  ...Object.fromEntries(SIMD_TYPES.map((t) => [t, simdKernel(t, JS_KERNELS[t])])),
};
