// Dequantization of ggml's block formats, one kernel per type, following ggml's
// `dequantize_row_*` (ggml-quants.c) and gguf-py's `quants.py` bit for bit: every value is
// computed in float64 from exactly representable parts and rounded once to float32, which equals
// ggml's float32 arithmetic here (each product of a half-precision scale and a small integer is
// exact, so only the last operation rounds). Block layouts: research/anchors.md §3.2.
import { halfTable } from '../../core/dtype';

/** Decodes `nBlocks` consecutive blocks starting at `src[0]` into `out[0 .. nBlocks·blockElems)`. */
export type Kernel = (src: Uint8Array, nBlocks: number, out: Float32Array) => void;

export const QK_K = 256;

/** Non-linear 4-bit codebook of IQ4_NL / IQ4_XS (ggml's kvalues_iq4nl). */
const KV_IQ4NL = new Int8Array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);
/** E2M1 values doubled (ggml's kvalues_mxfp4); the scale carries the ½. */
const KV_FP4 = new Int8Array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

const q4_0: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 18, y += 32) {
    const d = h[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = d * ((q & 15) - 8);
      out[y + j + 16] = d * ((q >> 4) - 8);
    }
  }
};

const q4_1: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 20, y += 32) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const m = h[src[o + 2] | (src[o + 3] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 4 + j];
      out[y + j] = (q & 15) * d + m;
      out[y + j + 16] = (q >> 4) * d + m;
    }
  }
};

const q5_0: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 22, y += 32) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const qh = (src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = src[o + 6 + j];
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      out[y + j] = d * (((q & 15) | xh0) - 16);
      out[y + j + 16] = d * (((q >> 4) | xh1) - 16);
    }
  }
};

const q5_1: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 24, y += 32) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const m = h[src[o + 2] | (src[o + 3] << 8)];
    const qh = (src[o + 4] | (src[o + 5] << 8) | (src[o + 6] << 16) | (src[o + 7] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = src[o + 8 + j];
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      out[y + j] = ((q & 15) | xh0) * d + m;
      out[y + j + 16] = ((q >> 4) | xh1) * d + m;
    }
  }
};

/** Q8_0 and Q8_1 (whose second half is the block sum, unused for values). */
function q8Kernel(bytes: number, qsAt: number): Kernel {
  return (src, nBlocks, out) => {
    const h = halfTable();
    const s = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
    for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += bytes, y += 32) {
      const d = h[src[o] | (src[o + 1] << 8)];
      const q = o + qsAt;
      for (let j = 0; j < 32; j++) out[y + j] = d * s[q + j];
    }
  };
}

const q2_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const dl = new Float64Array(16), ml = new Float64Array(16);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 84, y += QK_K) {
    const d = h[src[o + 80] | (src[o + 81] << 8)];
    const dmin = h[src[o + 82] | (src[o + 83] << 8)];
    for (let i = 0; i < 16; i++) {
      const sc = src[o + i];
      dl[i] = d * (sc & 15);
      ml[i] = dmin * (sc >> 4);
    }
    // Each byte holds four 2-bit values, one per shift; read it once and write all four.
    for (let half = 0; half < 2; half++) {
      const q = o + 16 + 32 * half, yy = y + 128 * half, s0 = 8 * half;
      for (let l = 0; l < 16; l++) {
        const a = src[q + l], c = src[q + 16 + l];
        out[yy + l] = dl[s0] * (a & 3) - ml[s0];
        out[yy + 16 + l] = dl[s0 + 1] * (c & 3) - ml[s0 + 1];
        out[yy + 32 + l] = dl[s0 + 2] * ((a >> 2) & 3) - ml[s0 + 2];
        out[yy + 48 + l] = dl[s0 + 3] * ((c >> 2) & 3) - ml[s0 + 3];
        out[yy + 64 + l] = dl[s0 + 4] * ((a >> 4) & 3) - ml[s0 + 4];
        out[yy + 80 + l] = dl[s0 + 5] * ((c >> 4) & 3) - ml[s0 + 5];
        out[yy + 96 + l] = dl[s0 + 6] * (a >> 6) - ml[s0 + 6];
        out[yy + 112 + l] = dl[s0 + 7] * (c >> 6) - ml[s0 + 7];
      }
    }
  }
};

const q3_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const dl = new Float64Array(16);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 110, y += QK_K) {
    const d = h[src[o + 108] | (src[o + 109] << 8)];
    const s = o + 96;
    // 16 six-bit scales: low nibbles from bytes 0-7, high pairs from bytes 8-11.
    for (let i = 0; i < 16; i++) {
      const lo = i < 8 ? src[s + i] & 15 : src[s + i - 8] >> 4;
      const hi = (src[s + 8 + (i & 3)] >> (2 * (i >> 2))) & 3;
      dl[i] = d * ((lo | (hi << 4)) - 32);
    }
    // Value k of a byte (shift 2k) takes bit 4·half + k of its hmask byte; a clear bit subtracts 4.
    for (let half = 0; half < 2; half++) {
      const q = o + 32 + 32 * half, yy = y + 128 * half, s0 = 8 * half, hs = 4 * half;
      for (let l = 0; l < 16; l++) {
        const a = src[q + l], c = src[q + 16 + l];
        const ha = ~src[o + l] >> hs, hc = ~src[o + 16 + l] >> hs;
        out[yy + l] = dl[s0] * ((a & 3) - ((ha & 1) << 2));
        out[yy + 16 + l] = dl[s0 + 1] * ((c & 3) - ((hc & 1) << 2));
        out[yy + 32 + l] = dl[s0 + 2] * (((a >> 2) & 3) - ((ha & 2) << 1));
        out[yy + 48 + l] = dl[s0 + 3] * (((c >> 2) & 3) - ((hc & 2) << 1));
        out[yy + 64 + l] = dl[s0 + 4] * (((a >> 4) & 3) - (ha & 4));
        out[yy + 80 + l] = dl[s0 + 5] * (((c >> 4) & 3) - (hc & 4));
        out[yy + 96 + l] = dl[s0 + 6] * ((a >> 6) - ((ha & 8) >> 1));
        out[yy + 112 + l] = dl[s0 + 7] * ((c >> 6) - ((hc & 8) >> 1));
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

const q4_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const sc = new Int32Array(8), mn = new Int32Array(8);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 144, y += QK_K) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const dmin = h[src[o + 2] | (src[o + 3] << 8)];
    scaleMinK4(src, o + 4, sc, mn);
    let yy = y;
    for (let j = 0; j < 4; j++) {
      const q = o + 16 + 32 * j;
      const d1 = d * sc[2 * j], m1 = dmin * mn[2 * j];
      const d2 = d * sc[2 * j + 1], m2 = dmin * mn[2 * j + 1];
      for (let l = 0; l < 32; l++) {
        const v = src[q + l];
        out[yy + l] = d1 * (v & 15) - m1;
        out[yy + 32 + l] = d2 * (v >> 4) - m2;
      }
      yy += 64;
    }
  }
};

const q5_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const sc = new Int32Array(8), mn = new Int32Array(8);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 176, y += QK_K) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const dmin = h[src[o + 2] | (src[o + 3] << 8)];
    scaleMinK4(src, o + 4, sc, mn);
    const qh = o + 16;
    for (let j = 0; j < 4; j++) {
      const q = o + 48 + 32 * j, yy = y + 64 * j;
      const d1 = d * sc[2 * j], m1 = dmin * mn[2 * j];
      const d2 = d * sc[2 * j + 1], m2 = dmin * mn[2 * j + 1];
      // The fifth bit of sub-block 2j (2j+1) is bit 2j (2j+1) of qh[l].
      const s1 = 2 * j, s2 = 2 * j + 1;
      for (let l = 0; l < 32; l++) {
        const v = src[q + l], hb = src[qh + l];
        out[yy + l] = d1 * ((v & 15) | (((hb >> s1) & 1) << 4)) - m1;
        out[yy + 32 + l] = d2 * ((v >> 4) | (((hb >> s2) & 1) << 4)) - m2;
      }
    }
  }
};

const q6_K: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 210, y += QK_K) {
    const d = h[src[o + 208] | (src[o + 209] << 8)];
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half, qh = o + 128 + 32 * half, sc = o + 192 + 8 * half, yy = y + 128 * half;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const a = src[ql + l], c = src[ql + l + 32], hb = src[qh + l];
        out[yy + l] = d * s8[sc + is] * (((a & 15) | ((hb & 3) << 4)) - 32);
        out[yy + l + 32] = d * s8[sc + is + 2] * (((c & 15) | (((hb >> 2) & 3) << 4)) - 32);
        out[yy + l + 64] = d * s8[sc + is + 4] * (((a >> 4) | (((hb >> 4) & 3) << 4)) - 32);
        out[yy + l + 96] = d * s8[sc + is + 6] * (((c >> 4) | (((hb >> 6) & 3) << 4)) - 32);
      }
    }
  }
};

const q8_K: Kernel = (src, nBlocks, out) => {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 292, y += QK_K) {
    const d = dv.getFloat32(o, true);
    for (let j = 0; j < QK_K; j++) out[y + j] = d * s8[o + 4 + j];
  }
};

const iq4_nl: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 18, y += 32) {
    const d = h[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = d * KV_IQ4NL[q & 15];
      out[y + j + 16] = d * KV_IQ4NL[q >> 4];
    }
  }
};

const iq4_xs: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 136, y += QK_K) {
    const d = h[src[o] | (src[o + 1] << 8)];
    const scalesH = src[o + 2] | (src[o + 3] << 8);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((src[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = d * (ls - 32);
      const q = o + 8 + 16 * ib, yy = y + 32 * ib;
      for (let j = 0; j < 16; j++) {
        out[yy + j] = dl * KV_IQ4NL[src[q + j] & 15];
        out[yy + j + 16] = dl * KV_IQ4NL[src[q + j] >> 4];
      }
    }
  }
};

const mxfp4: Kernel = (src, nBlocks, out) => {
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 17, y += 32) {
    // ggml_e8m0_to_fp32_half: 2^(e-127) / 2, the half matching the doubled E2M1 table.
    const d = 2 ** (src[o] - 128);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 1 + j];
      out[y + j] = d * KV_FP4[q & 15];
      out[y + j + 16] = d * KV_FP4[q >> 4];
    }
  }
};

/** ggml_ue4m3_to_fp32: unsigned E4M3 (bias 7) times ½; 0 and 0x7F decode to 0. */
function ue4m3Half(x: number): number {
  if (x === 0 || x === 0x7f) return 0;
  const e = (x >> 3) & 15, m = x & 7;
  return (e === 0 ? m * 2 ** -9 : (1 + m / 8) * 2 ** (e - 7)) * 0.5;
}

const nvfp4: Kernel = (src, nBlocks, out) => {
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 36, y += 64) {
    for (let s = 0; s < 4; s++) {
      const d = Math.fround(ue4m3Half(src[o + s]));
      const q = o + 4 + 8 * s, yy = y + 16 * s;
      for (let j = 0; j < 8; j++) {
        out[yy + j] = d * KV_FP4[src[q + j] & 15];
        out[yy + j + 8] = d * KV_FP4[src[q + j] >> 4];
      }
    }
  }
};

const tq1_0: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  const pow3 = [1, 3, 9, 27, 81];
  // Base-3 digits packed five (or four) per byte as a fixed-point fraction: ((q·3^k mod 256)·3) >> 8.
  const trit = (v: number, k: number): number => ((((v * pow3[k]) & 255) * 3) >> 8) - 1;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 54, y += QK_K) {
    const d = h[src[o + 52] | (src[o + 53] << 8)];
    for (let k = 0; k < 5; k++) for (let l = 0; l < 32; l++) out[y + k * 32 + l] = d * trit(src[o + l], k);
    for (let k = 0; k < 5; k++) for (let l = 0; l < 16; l++) out[y + 160 + k * 16 + l] = d * trit(src[o + 32 + l], k);
    for (let k = 0; k < 4; k++) for (let l = 0; l < 4; l++) out[y + 240 + k * 4 + l] = d * trit(src[o + 48 + l], k);
  }
};

const tq2_0: Kernel = (src, nBlocks, out) => {
  const h = halfTable();
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 66, y += QK_K) {
    const d = h[src[o + 64] | (src[o + 65] << 8)];
    for (let g = 0; g < 2; g++) {
      for (let k = 0; k < 4; k++) {
        const yy = y + g * 128 + k * 32;
        for (let l = 0; l < 32; l++) out[yy + l] = d * (((src[o + g * 32 + l] >> (2 * k)) & 3) - 1);
      }
    }
  }
};

export const KERNELS: Record<string, Kernel> = {
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
