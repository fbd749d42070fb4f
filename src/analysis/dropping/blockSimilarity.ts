// How much each droppable block changes its input, measured on data, to rank blocks for
// removal (§8.4 of the methods notes):
//   angular distance  d = mean over examples of arccos(cos(x_in, x_out)) / π (Gromov et al.,
//                     "The Unreasonable Ineffectiveness of the Deeper Layers", n = 1), on the
//                     last token for token models, on the whole flattened feature map otherwise
//   block influence   BI = 1 − mean cos(x_in, x_out) over all tokens (ShortGPT); for images over
//                     all spatial positions (each a channel vector), for vectors per example
// Low values mean the block barely changes its input, so it is dropped first.
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError } from '../core/errors';
import type { Dataset } from '../data/dataset';
import { batches, planInputs } from '../data/inputs';
import type { Model } from '../model/execute';

export interface BlockSimilarity {
  block: string;
  angularDistance: number;
  blockInfluence: number;
}

export interface SimilarityOptions {
  batchSize?: number;
  /** Examples to use (default: all). */
  count?: number;
  isCancelled?: () => boolean;
}

/** Cosine of a and b over `dim` consecutive values starting at `ia` / `ib`, in float64. */
function cosine(a: Float32Array, ia: number, b: Float32Array, ib: number, dim: number, stride = 1): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let j = 0; j < dim; j++) {
    const x = a[ia + j * stride];
    const y = b[ib + j * stride];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  const den = Math.sqrt(aa) * Math.sqrt(bb);
  // A zero vector has no direction; ShortGPT's reimplementation counts NaN as 0.5 cosine.
  return den > 0 ? ab / den : 0.5;
}

/** Per droppable block (in `blocks` order): angular distance and block influence on `data`. */
export async function blockSimilarity(model: Model, data: Dataset, blocks: readonly string[], opts: SimilarityOptions = {}): Promise<BlockSimilarity[]> {
  const graph = model.graph;
  const plan = planInputs(data, graph);
  const specs = blocks.map((name) => {
    const b = graph.blocks.find((x) => x.name === name);
    if (!b) throw new Error(`no block named ${name}`);
    return b;
  });
  const points = [...new Set(specs.flatMap((b) => [b.input, b.output]))];
  const angle = new Float64Array(specs.length);
  const cosSum = new Float64Array(specs.length);
  let examples = 0;
  const positions = new Float64Array(specs.length);
  for (const batch of batches(data, plan, { batchSize: opts.batchSize ?? 64, count: opts.count })) {
    try {
      if (opts.isCancelled?.()) throw new CancelledError();
      const feats = model.features(batch.x, points);
      const values = new Map<string, { shape: number[]; v: Float32Array }>();
      try {
        for (const p of points) values.set(p, { shape: feats[p].shape, v: (await feats[p].data()) as Float32Array });
      } finally {
        tf.dispose(Object.values(feats));
      }
      const B = batch.end - batch.start;
      specs.forEach((b, i) => {
        const { shape, v: a } = values.get(b.input)!;
        const out = values.get(b.output)!.v;
        const per = a.length / B;
        if (shape.length === 3) {
          // Tokens [B, T, C]: the last token for the distance, every token for the influence.
          const [, T, C] = shape;
          for (let e = 0; e < B; e++) {
            const last = (e * T + T - 1) * C;
            angle[i] += Math.acos(Math.max(-1, Math.min(1, cosine(a, last, out, last, C)))) / Math.PI;
            for (let t = 0; t < T; t++) cosSum[i] += cosine(a, (e * T + t) * C, out, (e * T + t) * C, C);
          }
          positions[i] += B * T;
        } else if (shape.length === 4) {
          // Images [B, C, H, W]: the whole map for the distance, each position's channels for the influence.
          const [, C, H, W] = shape;
          for (let e = 0; e < B; e++) {
            angle[i] += Math.acos(Math.max(-1, Math.min(1, cosine(a, e * per, out, e * per, per)))) / Math.PI;
            for (let s = 0; s < H * W; s++) cosSum[i] += cosine(a, e * per + s, out, e * per + s, C, H * W);
          }
          positions[i] += B * H * W;
        } else {
          for (let e = 0; e < B; e++) {
            const c = cosine(a, e * per, out, e * per, per);
            angle[i] += Math.acos(Math.max(-1, Math.min(1, c))) / Math.PI;
            cosSum[i] += c;
          }
          positions[i] += B;
        }
      });
      examples += B;
    } finally {
      batch.x.dispose();
      batch.y?.dispose();
    }
  }
  return specs.map((b, i) => ({ block: b.name, angularDistance: angle[i] / examples, blockInfluence: 1 - cosSum[i] / positions[i] }));
}

/** Blocks ordered most droppable first: lowest metric, ties in network order. */
export function rankBlocks(sims: readonly BlockSimilarity[], by: 'angularDistance' | 'blockInfluence' = 'angularDistance'): string[] {
  return sims.map((s, i) => ({ s, i })).sort((x, y) => x.s[by] - y.s[by] || x.i - y.i).map(({ s }) => s.block);
}
