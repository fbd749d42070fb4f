// WebAssembly SIMD kernels for the ggml types whose JavaScript kernels cannot beat numpy by 5×:
// the 8-bit types (numpy does them as one vectorised multiply) and the 2-bit ones. Each kernel
// widens 16 quants at a time to float32 lanes and scales them with float32 arithmetic, which is
// exactly ggml's and gguf-py's (every product of a half-precision scale and a small integer is
// exact; Q2_K's `dl·q − ml` and Q8_K's float32 scale round once, as numpy's float32 does).
// The module is assembled at first use (core/wasmAsm.ts); where WebAssembly SIMD is missing the
// JavaScript kernels run instead. Blocks are copied into the module's memory in chunks that stay
// in cache, decoded there, and the values copied out.
import { halfTable } from '../../core/dtype';
import { assemble, Body, F32, V128 } from '../../core/wasmAsm';
import type { Kernel } from './dequant';

/** Values decoded per call into the module (the copies in and out stay in cache). */
const CHUNK_VALUES = 16384;
/** Memory layout: the f16→f32 table, then one chunk of blocks (at most 1.25 bytes per value: Q8_1), then its values. */
const HALF = 0;
const SRC = 65536 * 4;
const OUT = SRC + Math.ceil((CHUNK_VALUES * 1.25) / 65536) * 65536;
const PAGES = Math.ceil((OUT + CHUNK_VALUES * 4) / 65536);

const P_SRC = 0, P_N = 1, P_OUT = 2;

// The few WebAssembly JS-API members used here (the project's TypeScript libs carry no DOM types).
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

/** Widens the i8x16 on the stack into four f32x4 of `d`·q (− `m`) stored at out + off … off + 63. */
function store16(b: Body, v: number, w: number, off: number, d: number, m?: number): void {
  b.set(v);
  for (const high of [false, true]) {
    b.get(v).simd(high ? 'i16x8_extend_high_i8x16_s' : 'i16x8_extend_low_i8x16_s').set(w);
    for (const high32 of [false, true]) {
      b.get(P_OUT).get(w).simd(high32 ? 'i32x4_extend_high_i16x8_s' : 'i32x4_extend_low_i16x8_s').simd('f32x4_convert_i32x4_s').get(d).simd('f32x4_mul');
      if (m !== undefined) b.get(m).simd('f32x4_sub');
      b.v128Store(off + (high ? 32 : 0) + (high32 ? 16 : 0));
    }
  }
}

/** Widens the i16x8 on the stack into two f32x4 of `d`·q stored at out + off … off + 31. */
function store8(b: Body, w: number, off: number, d: number): void {
  b.set(w);
  for (const high of [false, true]) {
    b.get(P_OUT).get(w).simd(high ? 'i32x4_extend_high_i16x8_s' : 'i32x4_extend_low_i16x8_s').simd('f32x4_convert_i32x4_s').get(d).simd('f32x4_mul').v128Store(off + (high ? 16 : 0));
  }
}

/** The loop over blocks: `perBlock` emits one block's code; the pointers then advance. */
function blockLoop(b: Body, blockBytes: number, blockElems: number, perBlock: () => void): Body {
  return b.block(() => {
    b.get(P_N).i32Eqz().brIf(0);
    b.loop(() => {
      perBlock();
      b.get(P_SRC).i32(blockBytes).i32Add().set(P_SRC);
      b.get(P_OUT).i32(blockElems * 4).i32Add().set(P_OUT);
      b.get(P_N).i32(1).i32Sub().tee(P_N).brIf(0);
    });
  });
}

/** Pushes the f32 value of the half-precision number at src + at. */
function half(b: Body, at: number): Body {
  return b.get(P_SRC).load16u(at).i32(2).i32Shl().f32Load(HALF);
}

/** Q8_0, Q8_1 (f16 scale) and Q8_K (f32 scale): y = d · int8. */
function q8(blockBytes: number, qsAt: number, values: number, f16: boolean): Body {
  const b = new Body(3);
  const d = b.local(V128), w = b.local(V128);
  return blockLoop(b, blockBytes, values, () => {
    (f16 ? half(b, 0) : b.get(P_SRC).f32Load(0)).simd('f32x4_splat').set(d);
    // Eight int8 per load, sign-extended by the load itself.
    for (let j = 0; j < values; j += 8) {
      b.get(P_SRC).v128Load8x8S(qsAt + j);
      store8(b, w, 4 * j, d);
    }
  });
}

/** TQ2_0: byte l of group g holds y[128g + 32k + l] in bits 2k, 2k+1, stored as q + 1. */
function tq2(): Body {
  const b = new Body(3);
  const d = b.local(V128), q = b.local(V128), v = b.local(V128), w = b.local(V128), three = b.local(V128), one = b.local(V128);
  b.i32(3).simd('i8x16_splat').set(three).i32(1).simd('i8x16_splat').set(one);
  return blockLoop(b, 66, 256, () => {
    half(b, 64).simd('f32x4_splat').set(d);
    for (let g = 0; g < 2; g++) {
      for (let h = 0; h < 2; h++) {
        b.get(P_SRC).v128Load(32 * g + 16 * h).set(q);
        for (let k = 0; k < 4; k++) {
          b.get(q);
          if (k) b.i32(2 * k).simd('i8x16_shr_u');
          b.get(three).simd('and').get(one).simd('i8x16_sub');
          store16(b, v, w, 4 * (128 * g + 32 * k + 16 * h), d);
        }
      }
    }
  });
}

/** Q2_K: in each 128-half, shift 2j of byte l (l < 32) is y[32j + l], with scale 8·half + 2j + (l ≥ 16). */
function q2k(): Body {
  const b = new Body(3);
  const ds = b.local(F32), ms = b.local(F32);
  const dl = b.local(V128), ml = b.local(V128), q = b.local(V128), v = b.local(V128), w = b.local(V128), three = b.local(V128);
  b.i32(3).simd('i8x16_splat').set(three);
  return blockLoop(b, 84, 256, () => {
    half(b, 80).set(ds);
    half(b, 82).set(ms);
    for (let hf = 0; hf < 2; hf++) {
      for (let h = 0; h < 2; h++) {
        b.get(P_SRC).v128Load(16 + 32 * hf + 16 * h).set(q);
        for (let j = 0; j < 4; j++) {
          const s = 8 * hf + 2 * j + h;
          // dl = d·(sc & 15), ml = dmin·(sc >> 4): exact float32 products.
          b.get(P_SRC).load8u(s).i32(15).i32And().f32ConvertI32U().get(ds).f32Mul().simd('f32x4_splat').set(dl);
          b.get(P_SRC).load8u(s).i32(4).i32ShrU().f32ConvertI32U().get(ms).f32Mul().simd('f32x4_splat').set(ml);
          b.get(q);
          if (j) b.i32(2 * j).simd('i8x16_shr_u');
          b.get(three).simd('and');
          store16(b, v, w, 4 * (128 * hf + 32 * j + 16 * h), dl, ml);
        }
      }
    }
  });
}

/**
 * Q6_K: in each 128-half, ql bytes A = ql[l], C = ql[l + 32] and qh byte H = qh[l] (l < 32) give
 * y[l] = (A & 15 | (H & 3) << 4), y[l+32] = (C & 15 | (H & 12) << 2), y[l+64] = (A >> 4 | H & 48),
 * y[l+96] = (C >> 4 | (H >> 2) & 48), each minus 32, times d·sc[l/16 + 2k].
 */
function q6k(): Body {
  const b = new Body(3);
  const ds = b.local(F32);
  const d = b.local(V128), a = b.local(V128), c = b.local(V128), hb = b.local(V128), v = b.local(V128), w = b.local(V128);
  const low = b.local(V128), hi2 = b.local(V128), k32 = b.local(V128);
  b.i32(15).simd('i8x16_splat').set(low).i32(48).simd('i8x16_splat').set(hi2).i32(32).simd('i8x16_splat').set(k32);
  return blockLoop(b, 210, 256, () => {
    half(b, 208).set(ds);
    for (let hf = 0; hf < 2; hf++) {
      for (let h = 0; h < 2; h++) {
        const ql = 64 * hf + 16 * h, qh = 128 + 32 * hf + 16 * h, y = 128 * hf + 16 * h;
        b.get(P_SRC).v128Load(ql).set(a).get(P_SRC).v128Load(ql + 32).set(c).get(P_SRC).v128Load(qh).set(hb);
        for (let k = 0; k < 4; k++) {
          // d·sc is exact in float32 (11 × 8 bits), so (d·sc)·q rounds once, as ggml's does.
          b.get(P_SRC).load8s(192 + 8 * hf + h + 2 * k).f32ConvertI32S().get(ds).f32Mul().simd('f32x4_splat').set(d);
          if (k === 0) b.get(a).get(low).simd('and').get(hb).i32(4).simd('i8x16_shl').get(hi2).simd('and');
          if (k === 1) b.get(c).get(low).simd('and').get(hb).i32(2).simd('i8x16_shl').get(hi2).simd('and');
          if (k === 2) b.get(a).i32(4).simd('i8x16_shr_u').get(hb).get(hi2).simd('and');
          if (k === 3) b.get(c).i32(4).simd('i8x16_shr_u').get(hb).i32(2).simd('i8x16_shr_u').get(hi2).simd('and');
          b.simd('or').get(k32).simd('i8x16_sub');
          store16(b, v, w, 4 * (y + 32 * k), d);
        }
      }
    }
  });
}

/**
 * TQ1_0: base-3 digits, digit k of byte v being ((v·3^k mod 256)·3 >> 8) − 1 (ggml's fixed-point
 * form), computed on 16-bit lanes. Bytes 0-31 give y[32k + l], bytes 32-47 y[160 + 16k + l] (k < 5),
 * qh bytes 48-51 y[240 + 4k + l] (k < 4).
 */
function tq1(): Body {
  const b = new Body(3);
  const d = b.local(V128), x = b.local(V128), xl = b.local(V128), xh = b.local(V128), v = b.local(V128), w = b.local(V128);
  const m255 = b.local(V128), three = b.local(V128), one = b.local(V128);
  const pow = [1, 3, 9, 27, 81].map(() => b.local(V128));
  b.i32(255).simd('i16x8_splat').set(m255).i32(3).simd('i16x8_splat').set(three).i32(1).simd('i16x8_splat').set(one);
  [1, 3, 9, 27, 81].forEach((p, k) => b.i32(p).simd('i16x8_splat').set(pow[k]));
  const digit = (lanes: number, k: number): void => {
    b.get(lanes).get(pow[k]).simd('i16x8_mul').get(m255).simd('and').get(three).simd('i16x8_mul').i32(8).simd('i16x8_shr_u').get(one).simd('i16x8_sub');
  };
  return blockLoop(b, 54, 256, () => {
    half(b, 52).simd('f32x4_splat').set(d);
    for (const [at, y, step] of [[0, 0, 32], [16, 16, 32], [32, 160, 16]]) {
      b.get(P_SRC).v128Load(at).tee(x).simd('i16x8_extend_low_i8x16_u').set(xl).get(x).simd('i16x8_extend_high_i8x16_u').set(xh);
      for (let k = 0; k < 5; k++) {
        digit(xl, k);
        digit(xh, k);
        b.simd('i8x16_narrow_i16x8_s');
        store16(b, v, w, 4 * (y + step * k), d);
      }
    }
    b.get(P_SRC).v128Load32Zero(48).simd('i16x8_extend_low_i8x16_u').set(xl);
    for (let k = 0; k < 4; k++) {
      b.get(P_OUT);
      digit(xl, k);
      b.simd('i32x4_extend_low_i16x8_s').simd('f32x4_convert_i32x4_s').get(d).simd('f32x4_mul').v128Store(4 * (240 + 4 * k));
    }
  });
}

const SPECS: Record<string, { blockElems: number; blockBytes: number; body: () => Body }> = {
  Q8_0: { blockElems: 32, blockBytes: 34, body: () => q8(34, 2, 32, true) },
  Q8_1: { blockElems: 32, blockBytes: 36, body: () => q8(36, 4, 32, true) },
  Q8_K: { blockElems: 256, blockBytes: 292, body: () => q8(292, 4, 256, false) },
  TQ2_0: { blockElems: 256, blockBytes: 66, body: () => tq2() },
  Q2_K: { blockElems: 256, blockBytes: 84, body: () => q2k() },
  Q6_K: { blockElems: 256, blockBytes: 210, body: () => q6k() },
  TQ1_0: { blockElems: 256, blockBytes: 54, body: () => tq1() },
};

interface Wasm {
  u8: Uint8Array;
  f32: Float32Array;
  fns: Record<string, (src: number, n: number, out: number) => void>;
}
let wasm: Wasm | null | undefined;

/** The assembled module, or null where WebAssembly SIMD is unavailable (or turned off by CKPT_LENS_WASM=0). */
export function simdModule(): Wasm | null {
  if (wasm !== undefined) return wasm;
  wasm = null;
  if (typeof WebAssembly === 'undefined' || process.env.CKPT_LENS_WASM === '0') return wasm;
  try {
    const bytes = assemble(Object.entries(SPECS).map(([name, s]) => ({ name, body: s.body() })), PAGES);
    if (!WebAssembly.validate(bytes)) return wasm;
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    const mem = inst.exports.memory as { buffer: ArrayBuffer };
    new Float32Array(mem.buffer, HALF, 65536).set(halfTable());
    wasm = { u8: new Uint8Array(mem.buffer), f32: new Float32Array(mem.buffer), fns: inst.exports as unknown as Wasm['fns'] };
  } catch {
    wasm = null;
  }
  return wasm;
}

/** The SIMD kernel for `type`, falling back to `js` where WebAssembly SIMD is unavailable. */
export function simdKernel(type: string, js: Kernel): Kernel {
  const spec = SPECS[type];
  const per = Math.max(1, CHUNK_VALUES / spec.blockElems);
  const { blockElems: E, blockBytes: B } = spec;
  return (src, nBlocks, out) => {
    const w = simdModule();
    if (!w) return js(src, nBlocks, out);
    const fn = w.fns[type];
    for (let b = 0; b < nBlocks; b += per) {
      const m = Math.min(per, nBlocks - b);
      w.u8.set(src.subarray(b * B, (b + m) * B), SRC);
      fn(SRC, m, OUT);
      out.set(w.f32.subarray(OUT >> 2, (OUT >> 2) + m * E), b * E);
    }
  };
}

export const SIMD_TYPES = Object.keys(SPECS);
