// Seeded standard-normal draws for SGLD noise, one independent stream per chain.
// xoshiro128** (32-bit state words, fast in JS) seeded through splitmix32, 53-bit uniforms from
// two outputs, and normals by Marsaglia & Tsang's ziggurat (2000) with 128 layers. A chain's
// stream depends only on (seed, chain), so a result is reproducible whichever thread runs it.
// The ziggurat matters for speed: an SGLD step draws one normal per parameter (932k on the
// Fashion-MNIST MLP), and Box–Muller's log, sqrt and cos took 62 ms of a 180 ms step; the
// ziggurat's usual path is one 32-bit draw, a table look-up and a multiply. As Doornik (2005)
// advises, the layer index (7 bits), the sign (1 bit) and the magnitude (24 bits) come from
// disjoint bits of the draw, so they are independent.

const LAYERS = 128;
/** Right edge of the base layer and the common area of every layer (Marsaglia & Tsang's 128-layer constants). */
const R = 3.442619855899;
const AREA = 9.91256303526217e-3;
const M = 2 ** 24;
/** Per layer: magnitude bound for the fast accept (kn), scale (wn) and density at the layer's edge (fn). */
const KN = new Uint32Array(LAYERS);
const WN = new Float64Array(LAYERS);
const FN = new Float64Array(LAYERS);
{
  let dn = R;
  let tn = dn;
  const q = AREA / Math.exp(-0.5 * dn * dn);
  KN[0] = Math.floor((dn / q) * M);
  KN[1] = 0;
  WN[0] = q / M;
  WN[LAYERS - 1] = dn / M;
  FN[0] = 1;
  FN[LAYERS - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = LAYERS - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(AREA / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = Math.floor((dn / tn) * M);
    tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn);
    WN[i] = dn / M;
  }
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** A stream for (seed, stream): chains use stream = chain index. */
  constructor(seed: number, stream = 0) {
    const mix = splitmix32((seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d));
    this.s0 = mix() | 0;
    this.s1 = mix() | 0;
    this.s2 = mix() | 0;
    this.s3 = mix() | 1;
  }

  /** 32 random bits. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** A standard normal draw (ziggurat). */
  normal(): number {
    return this.finish(this.nextU32());
  }

  /** The ziggurat from the 32-bit draw u on: the fast accept, else the tail, the wedge or a new draw. */
  private finish(first: number): number {
    for (let u = first; ; u = this.nextU32()) {
      const layer = u & 127;
      const mag = u >>> 8;
      const sign = u & 128 ? -1 : 1;
      if (mag < KN[layer]) return sign * mag * WN[layer];
      const x = mag * WN[layer];
      if (layer === 0) {
        // The tail beyond R (Marsaglia's exponential method).
        let t: number;
        let y: number;
        do {
          t = -Math.log(1 - this.uniform()) / R;
          y = -Math.log(1 - this.uniform());
        } while (y + y < t * t);
        return sign * (R + t);
      }
      // The wedge between the layer's rectangle and the density.
      if (FN[layer] + this.uniform() * (FN[layer - 1] - FN[layer]) < Math.exp(-0.5 * x * x)) return sign * x;
    }
  }

  /**
   * Fills `out` with N(0, sd²) draws: sd × the draws of calling normal() in turn, with the
   * generator's state in locals and the ziggurat's fast path inline (several times faster).
   */
  fillNormal(out: Float64Array, sd = 1): void {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    const n = out.length;
    for (let i = 0; i < n; i++) {
      // nextU32, inline.
      const u = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      const layer = u & 127;
      const mag = u >>> 8;
      if (mag < KN[layer]) {
        // The sign without a branch (a coin flip mispredicts half the time): 1 − 2·bit 7.
        out[i] = sd * ((1 - ((u >>> 6) & 2)) * (mag * WN[layer]));
        continue;
      }
      // Rare (about 1 in 100): finish this draw the slow way, on the stored state.
      this.s0 = s0;
      this.s1 = s1;
      this.s2 = s2;
      this.s3 = s3;
      out[i] = sd * this.finish(u);
      s0 = this.s0;
      s1 = this.s1;
      s2 = this.s2;
      s3 = this.s3;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle(a: Int32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
}

/** Rotate left, as an int32 (the state stays in small integers, which V8 keeps unboxed). */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
