// A very small WebAssembly assembler: enough to write a handful of SIMD loops as TypeScript
// (dequantization kernels) and turn them into a module at run time, with no toolchain and no
// binary blob in the repository. Functions take i32 parameters, return nothing, and share one
// exported memory. Encodings follow the WebAssembly core spec (binary format, §5) and its
// fixed-width SIMD extension (0xFD-prefixed opcodes).

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** SIMD opcodes (after the 0xFD prefix) used by our kernels. */
const SIMD = {
  load: 0x00, load8x8_s: 0x01, store: 0x0b, load32_zero: 0x5c, i8x16_splat: 0x0f, i16x8_splat: 0x10, f32x4_splat: 0x13,
  and: 0x4e, or: 0x50, i8x16_narrow_i16x8_s: 0x65, i8x16_shl: 0x6b, i8x16_shr_u: 0x6d, i8x16_sub: 0x71,
  i16x8_shr_u: 0x8d, i16x8_sub: 0x91, i16x8_mul: 0x95,
  i16x8_extend_low_i8x16_s: 0x87, i16x8_extend_high_i8x16_s: 0x88,
  i16x8_extend_low_i8x16_u: 0x89, i16x8_extend_high_i8x16_u: 0x8a,
  i32x4_extend_low_i16x8_s: 0xa7, i32x4_extend_high_i16x8_s: 0xa8,
  f32x4_sub: 0xe5, f32x4_mul: 0xe6, f32x4_convert_i32x4_s: 0xfa,
} as const;
export type SimdOp = keyof typeof SIMD;

/** Builds one function body; each method appends an instruction and returns `this`. */
export class Body {
  readonly code: number[] = [];
  private readonly locals: number[] = [];
  constructor(readonly params: number) {}

  /** A new local of `type`; its index. */
  local(type: number): number {
    this.locals.push(type);
    return this.params + this.locals.length - 1;
  }
  get(i: number): this { return this.op(0x20, ...uleb(i)); }
  set(i: number): this { return this.op(0x21, ...uleb(i)); }
  tee(i: number): this { return this.op(0x22, ...uleb(i)); }
  i32(n: number): this { return this.op(0x41, ...sleb(n | 0)); }
  f32const(x: number): this {
    const b = new Uint8Array(new Float32Array([x]).buffer);
    return this.op(0x43, ...b);
  }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32And(): this { return this.op(0x71); }
  i32ShrU(): this { return this.op(0x76); }
  i32Shl(): this { return this.op(0x74); }
  i32Eqz(): this { return this.op(0x45); }
  f32Mul(): this { return this.op(0x94); }
  f32ConvertI32S(): this { return this.op(0xb2); }
  f32ConvertI32U(): this { return this.op(0xb3); }
  load8s(offset: number): this { return this.op(0x2c, 0, ...uleb(offset)); }
  load8u(offset: number): this { return this.op(0x2d, 0, ...uleb(offset)); }
  load16u(offset: number): this { return this.op(0x2f, 1, ...uleb(offset)); }
  f32Load(offset: number): this { return this.op(0x2a, 2, ...uleb(offset)); }
  v128Load(offset: number): this { return this.op(0xfd, ...uleb(SIMD.load), 0, ...uleb(offset)); }
  v128Store(offset: number): this { return this.op(0xfd, ...uleb(SIMD.store), 0, ...uleb(offset)); }
  /** v128.load8x8_s: eight int8 at the address, sign-extended to i16x8. */
  v128Load8x8S(offset: number): this { return this.op(0xfd, ...uleb(SIMD.load8x8_s), 0, ...uleb(offset)); }
  v128Load32Zero(offset: number): this { return this.op(0xfd, ...uleb(SIMD.load32_zero), 0, ...uleb(offset)); }
  simd(op: SimdOp): this { return this.op(0xfd, ...uleb(SIMD[op])); }
  /** `block … end` that the body of `fn` may leave with br 1 (inside a loop) or br 0. */
  block(fn: () => void): this { this.op(0x02, 0x40); fn(); return this.op(0x0b); }
  loop(fn: () => void): this { this.op(0x03, 0x40); fn(); return this.op(0x0b); }
  brIf(depth: number): this { return this.op(0x0d, ...uleb(depth)); }

  private op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  encode(): number[] {
    const groups: number[] = [];
    for (const t of this.locals) groups.push(1, t); // one (count, type) entry per local: simple, valid
    const body = [...uleb(this.locals.length), ...groups, ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

function section(id: number, items: number[][]): number[] {
  const content = [...uleb(items.length), ...items.flat()];
  return [id, ...uleb(content.length), ...content];
}

function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

/** A module exporting `memory` (`pages` of 64 KiB) and each function under its name. */
export function assemble(funcs: { name: string; body: Body }[], pages: number): Uint8Array {
  // One type per parameter count: (i32 × n) → ().
  const arities = [...new Set(funcs.map((f) => f.body.params))];
  const types = arities.map((n) => [0x60, ...uleb(n), ...Array<number>(n).fill(I32), 0]);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(3, funcs.map((f) => uleb(arities.indexOf(f.body.params)))),
    ...section(5, [[0x00, ...uleb(pages)]]),
    ...section(7, [[...name('memory'), 0x02, 0], ...funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])]),
    ...section(10, funcs.map((f) => f.body.encode())),
  ]);
}
