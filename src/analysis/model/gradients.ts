// Registers tfjs-core's gradient functions, which training (stitching layers) needs. The
// @tensorflow/tfjs union package does this; tfjs-core alone does not, and its Node entry point
// ships no gradients. The registration module exists only as ES modules, so it is imported by
// path, which makes esbuild bundle it in every build (tests mark bare package imports external).
// The kernel and gradient registries and the engine are process globals in tfjs 4, so these
// registrations serve the package's Node entry point as well.
import * as tf from '@tensorflow/tfjs-core';
import '../../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';

/** x with its last two axes swapped, as a real transpose. */
function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/** matMul(a, b, ta, tb) with the transposes done first. */
function mm(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  return tf.matMul(ta ? swapLast(a) : a, tb ? swapLast(b) : b);
}

// tfjs' own BatchMatMul gradient, with transposes made explicit: the wasm backend's matMul with
// a transpose flag runs 5-12× slower than a transpose followed by a plain matMul (measured on a
// 128×512 · 512×512 product: 66 ms with transposeA against 5.6 ms), and backward passes use
// nothing but flagged products.
tf.registerGradient({
  kernelName: 'BatchMatMul',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap | undefined) => {
    const g = dy as tf.Tensor;
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return { a: () => mm(g, b, false, true), b: () => mm(a, g, true, false) };
    if (!transposeA && transposeB) return { a: () => mm(g, b, false, false), b: () => mm(g, a, true, false) };
    if (transposeA && !transposeB) return { a: () => mm(b, g, false, true), b: () => mm(a, g, false, false) };
    return { a: () => mm(b, g, true, true), b: () => mm(g, a, true, true) };
  },
});
