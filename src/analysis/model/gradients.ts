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

/** [top, bottom, left, right] zero padding of a convolution's attrs (PyTorch's symmetric padding arrives explicit or 'valid'). */
function explicitPadding(pad: unknown): [number, number, number, number] | undefined {
  if (pad === 'valid') return [0, 0, 0, 0];
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  if (Array.isArray(pad) && pad.length === 4) return [pad[1][0], pad[1][1], pad[2][0], pad[2][1]];
  return undefined;
}

/** A stride-1 convolution's padding as [top, bottom, left, right], 'same' included. */
function stride1Padding(pad: unknown, kh: number, kw: number): [number, number, number, number] | undefined {
  if (pad === 'same') return [Math.floor((kh - 1) / 2), kh - 1 - Math.floor((kh - 1) / 2), Math.floor((kw - 1) / 2), kw - 1 - Math.floor((kw - 1) / 2)];
  return explicitPadding(pad);
}

const pair = (v: number | [number, number]): [number, number] => (Array.isArray(v) ? v : [v, v]);

/**
 * Conv2D's input gradient for a stride-1 convolution: a forward convolution of dy with the
 * filter rotated by 180° and its channel axes swapped, padded by k − 1 − p, which runs on the
 * fast convolution kernel. Undefined where that padding would be negative.
 */
function stride1InputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, p: [number, number, number, number]): (() => tf.Tensor) | undefined {
  const [kh, kw] = filter.shape;
  const back: Pad4 = [[0, 0], [kh - 1 - p[0], kh - 1 - p[1]], [kw - 1 - p[2], kw - 1 - p[3]], [0, 0]];
  if (back.some(([a, b]) => a < 0 || b < 0)) return undefined;
  return () => tf.conv2d(dy, tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D, 1, back);
}

/**
 * Conv2D's filter gradient from ops every backend has, for backends without a
 * Conv2DBackpropFilter kernel (tfjs-wasm), as one forward convolution:
 *   dW[dh, dw, ci, co] = Σ_{b, h, w} x_pad[b, s·h + dh, s·w + dw, ci] · dy[b, h, w, co]
 * is a convolution of the padded input with the batch as its channels, x' = [Ci, Hp, Wp, B], by
 * dy as a filter dilated by the stride, dy' = [Ho, Wo, B, Co]; its [Ci, ≥kh, ≥kw, Co] output's
 * first kh × kw positions are the gradient. XNNPACK runs it as one product with K = B·Ho·Wo
 * (measured on the ResNet fixture: 3× faster a step than kh·kw strided slices and products,
 * whose slices tfjs-wasm copies in JS).
 */
export function convFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], strides: [number, number], pad: [number, number, number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = filterShape;
    const [sh, sw] = strides;
    const xp = pad.some((p) => p !== 0) ? tf.pad(x, [[0, 0], [pad[0], pad[1]], [pad[2], pad[3]], [0, 0]]) : x;
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
    const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    let g = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [sh, sw]);
    if (g.shape[1] !== kh || g.shape[2] !== kw) g = tf.slice(g, [0, 0, 0, 0], [ci, kh, kw, co]);
    return tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

// Conv2D's gradient, one registration over tfjs' own (which keeps every case not listed here,
// and checks that dilations are 1):
// - input: tfjs-wasm's Conv2DBackpropInput is a plain loop (1.2 s of a 1.5 s ResNet training
//   step), so stride-1 NHWC convolutions use stride1InputGrad on the fast kernel, on every backend;
// - filter: where the backend has no Conv2DBackpropFilter (tfjs-wasm), convFilterGrad, for NHWC
//   convolutions with explicit or 'valid' padding.
const tfjsConv2dGrad = tf.getGradient('Conv2D');
if (tfjsConv2dGrad) {
  tf.registerGradient({
    ...tfjsConv2dGrad,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap | undefined) => {
      const grads = tfjsConv2dGrad.gradFunc(dy, saved, attrs ?? {});
      const { strides, pad, dataFormat, dilations } = attrs as unknown as { strides: number | [number, number]; pad: unknown; dataFormat: string; dilations: number | [number, number] };
      if (dataFormat !== 'NHWC' || pair(dilations).some((d) => d !== 1)) return grads;
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const s = pair(strides);
      const p1 = s[0] === 1 && s[1] === 1 ? stride1Padding(pad, filter.shape[0], filter.shape[1]) : undefined;
      const input = p1 && stride1InputGrad(dy as tf.Tensor4D, filter, p1);
      const p = explicitPadding(pad);
      const noFilterKernel = !tf.getKernel('Conv2DBackpropFilter', tf.getBackend());
      return {
        ...grads,
        ...(input ? { x: input } : {}),
        ...(noFilterKernel && p ? { filter: () => convFilterGrad(x, dy as tf.Tensor4D, filter.shape, s, p) } : {}),
      };
    },
  });
}

// GatherV2's gradient (embedding tables) is an UnsortedSegmentSum, which tfjs-wasm lacks: a
// kernel in JS over the wasm heap, rows of dy added into the rows their ids name.
if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      const b = backend as unknown as { makeOutput(shape: number[], dtype: string): tf.TensorInfo; typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array };
      const tail = x.shape.slice(segmentIds.shape.length);
      const inner = tail.reduce((a, c) => a * c, 1);
      const out = b.makeOutput([numSegments, ...tail], x.dtype);
      // Views after makeOutput: allocating may grow (and move) the heap.
      const o = b.typedArrayFromHeap(out);
      const xv = b.typedArrayFromHeap(x);
      const ids = b.typedArrayFromHeap(segmentIds);
      o.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        const src = i * inner;
        const dst = s * inner;
        for (let j = 0; j < inner; j++) o[dst + j] += xv[src + j];
      }
      return out;
    },
  });
}
