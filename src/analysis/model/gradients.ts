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

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

/** A stride-1 convolution's padding as [top, bottom, left, right], or undefined when not plain. */
function stride1Padding(pad: unknown, kh: number, kw: number): [number, number, number, number] | undefined {
  if (pad === 'valid') return [0, 0, 0, 0];
  if (pad === 'same') return [Math.floor((kh - 1) / 2), kh - 1 - Math.floor((kh - 1) / 2), Math.floor((kw - 1) / 2), kw - 1 - Math.floor((kw - 1) / 2)];
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  if (Array.isArray(pad) && pad.length === 4) return [pad[1][0], pad[1][1], pad[2][0], pad[2][1]];
  return undefined;
}

// Conv2D's input gradient: the wasm backend's Conv2DBackpropInput is a plain loop (1.2 s of a
// 1.5 s ResNet training step). For stride-1 convolutions it is a forward convolution of dy with
// the filter rotated by 180° and its channel axes swapped, padded by k − 1 − p, which runs on the
// fast convolution kernel. Other cases, and the filter gradient, keep tfjs' own.
const conv2dGrad = tf.getGradient('Conv2D');
if (conv2dGrad) {
  tf.registerGradient({
    ...conv2dGrad,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap | undefined) => {
      const grads = conv2dGrad.gradFunc(dy, saved, attrs ?? {});
      const { strides, pad, dataFormat, dilations } = attrs as unknown as { strides: number | [number, number]; pad: unknown; dataFormat: string; dilations: number | [number, number] };
      const [filter] = [saved[1]];
      const [kh, kw] = filter.shape;
      const ones = (v: number | [number, number]): boolean => (Array.isArray(v) ? v.every((d) => d === 1) : v === 1);
      const p = stride1Padding(pad, kh, kw);
      if (!ones(strides) || !ones(dilations) || dataFormat !== 'NHWC' || !p) return grads;
      const back: Pad4 = [[0, 0], [kh - 1 - p[0], kh - 1 - p[1]], [kw - 1 - p[2], kw - 1 - p[3]], [0, 0]];
      if (back.some(([a, b]) => a < 0 || b < 0)) return grads;
      return {
        ...grads,
        x: () => tf.conv2d(dy as tf.Tensor4D, tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D, 1, back),
      };
    },
  });
}
