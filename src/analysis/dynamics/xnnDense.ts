// The dense network's passes with the three products of every layer on tfjs-wasm (XNNPACK,
// float32, one thread), the rest (bias, activations, loss) in JS. devinterp runs in float32, and
// on the Fashion-MNIST MLP this runs a step 4–5× faster than the float64 JS loops of mlpNet.ts.
// Only products whose right-hand operand is small are packed per call, and no big matrix is
// transposed (wasm's matMul with a transpose flag is several times slower):
//   forward   zᵀ[O,B]  = W[O,I] · aᵀ[I,B]      (activations travel transposed)
//   weights   dW[O,I]  = dzᵀ[O,B] · a[B,I]
//   inputs    dx[B,I]  = dz[B,O] · W[O,I]
// Results are read in place from the wasm heap (dataSync's copy of a 1.6 MB gradient cost more
// than the product). The caller must have made 'wasm' the tfjs backend of this thread (a pool
// thread does).
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type DenseNetSpec, type LossGrad, type Targets, actBackward, actForward, taskLoss } from './mlpNet';

/**
 * A float32 tensor's values as a view of the wasm heap: valid only until the next tfjs call
 * (which may grow the heap), so it is read at once.
 */
function heapView(t: tf.Tensor): Float32Array {
  const backend = tf.backend() as BackendWasm;
  // The Emscripten module's heap (its type comes from @types/emscripten, not installed).
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;
  return new Float32Array(heap.buffer, backend.getMemoryOffset(t.dataId), t.size);
}

interface LayerBufs {
  /** Pre-activations and activations, transposed [O, B]. */
  zT: Float32Array;
  aT: Float32Array;
  /** This layer's input [B, I] (not transposed), for its weight gradient. */
  a: Float32Array;
  /** The gradient at this layer's output, transposed [O, B]. */
  dzT: Float32Array;
}

/** Per batch size: the layers' buffers and the network's input and output buffers (reused every step). */
interface BatchBufs {
  layers: LayerBufs[];
  xT: Float32Array;
  out: Float64Array;
  dOut: Float64Array;
}

export class XnnDenseNet implements LossGrad {
  readonly size: number;
  /** Each layer's weight matrix in its own buffer (tfjs-wasm misreads some inputs made from views). */
  private readonly w32: Float32Array[];
  private bufs = new Map<number, BatchBufs>();

  constructor(readonly spec: DenseNetSpec) {
    if (tf.getBackend() !== 'wasm') throw new Error(`the XNNPACK dense engine needs the tfjs wasm backend (this thread has ${tf.getBackend()})`);
    this.size = spec.size;
    this.w32 = spec.layers.map((l) => new Float32Array(l.inFeatures * l.outFeatures));
  }

  private batchBufs(B: number): BatchBufs {
    let b = this.bufs.get(B);
    if (!b) {
      const L = this.spec.layers;
      const K = this.spec.outputSize;
      b = {
        layers: L.map((l) => ({ zT: new Float32Array(l.outFeatures * B), aT: new Float32Array(l.outFeatures * B), a: new Float32Array(l.inFeatures * B), dzT: new Float32Array(l.outFeatures * B) })),
        xT: new Float32Array(L[0].inFeatures * B),
        out: new Float64Array(B * K),
        dOut: new Float64Array(B * K),
      };
      // Keep a few sizes only (the last batch of a pass is smaller).
      if (this.bufs.size > 4) this.bufs.clear();
      this.bufs.set(B, b);
    }
    return b;
  }

  /** Uploads the weight matrices of w. */
  private weights(w: Float64Array): tf.Tensor2D[] {
    return this.spec.layers.map((l, li) => {
      const m = this.w32[li];
      m.set(w.subarray(l.wOffset, l.wOffset + m.length));
      return tf.tensor2d(m, [l.outFeatures, l.inFeatures], 'float32');
    });
  }

  /** Runs the layers; returns the last layer's outputs as [B, K] float64 (logits) and keeps zᵀ, aᵀ per layer. */
  private forward(w: Float64Array, W: tf.Tensor2D[], x: Float64Array, B: number): { out: Float64Array; bufs: LayerBufs[] } {
    const L = this.spec.layers;
    const all = this.batchBufs(B);
    const bufs = all.layers;
    const I0 = L[0].inFeatures;
    const xT = all.xT;
    for (let b = 0; b < B; b++) for (let i = 0; i < I0; i++) xT[i * B + b] = x[b * I0 + i];
    let inT = tf.tensor2d(xT, [I0, B], 'float32');
    for (let li = 0; li < L.length; li++) {
      const l = L[li];
      const prod = tf.matMul(W[li], inT);
      inT.dispose();
      const zT = bufs[li].zT;
      zT.set(heapView(prod));
      prod.dispose();
      if (l.bias) {
        for (let o = 0; o < l.outFeatures; o++) {
          const bias = w[l.bOffset + o];
          const row = o * B;
          for (let b = 0; b < B; b++) zT[row + b] += bias;
        }
      }
      actForward(l.act, zT, bufs[li].aT);
      // tensor2d copies the values into the wasm heap at once: the buffer is free again after.
      if (li + 1 < L.length) inT = tf.tensor2d(bufs[li].aT, [l.outFeatures, B], 'float32');
    }
    const K = L[L.length - 1].outFeatures;
    const aT = bufs[L.length - 1].aT;
    const out = all.out;
    for (let k = 0; k < K; k++) for (let b = 0; b < B; b++) out[b * K + k] = aT[k * B + b];
    return { out, bufs };
  }

  loss(w: Float64Array, x: Float64Array, t: Targets, B: number): number {
    const W = this.weights(w);
    try {
      const { out } = this.forward(w, W, x, B);
      return taskLoss(out, t, B, this.spec.outputSize, undefined);
    } finally {
      tf.dispose(W);
    }
  }

  lossAndGrad(w: Float64Array, x: Float64Array, t: Targets, B: number, grad: Float64Array): number {
    const L = this.spec.layers;
    const W = this.weights(w);
    try {
      const { out, bufs } = this.forward(w, W, x, B);
      const K = this.spec.outputSize;
      const dOut = this.batchBufs(B).dOut;
      const loss = taskLoss(out, t, B, K, dOut);
      // dzᵀ of the last layer.
      let dzT = bufs[L.length - 1].dzT;
      for (let k = 0; k < K; k++) for (let b = 0; b < B; b++) dzT[k * B + b] = dOut[b * K + k];
      for (let li = L.length - 1; li >= 0; li--) {
        const l = L[li];
        const I = l.inFeatures;
        const O = l.outFeatures;
        actBackward(l.act, bufs[li].zT, dzT);
        // The layer's input a[B, I] (not transposed).
        const a = bufs[li].a;
        if (li === 0) a.set(x.subarray(0, a.length));
        else {
          const aT = bufs[li - 1].aT;
          for (let i = 0; i < I; i++) for (let b = 0; b < B; b++) a[b * I + i] = aT[i * B + b];
        }
        const dzTt = tf.tensor2d(dzT, [O, B], 'float32');
        const at = tf.tensor2d(a, [B, I], 'float32');
        const dW = tf.matMul(dzTt, at);
        at.dispose();
        const g = heapView(dW);
        grad.set(g, l.wOffset);
        dW.dispose();
        if (l.bias) {
          for (let o = 0; o < O; o++) {
            let s = 0;
            for (let b = 0; b < B; b++) s += dzT[o * B + b];
            grad[l.bOffset + o] = s;
          }
        }
        if (li === 0) {
          dzTt.dispose();
          break;
        }
        const dz = tf.transpose(dzTt);
        dzTt.dispose();
        const dx = tf.matMul(dz, W[li]);
        dz.dispose();
        const dxv = heapView(dx);
        const next = bufs[li - 1].dzT;
        for (let b = 0; b < B; b++) for (let i = 0; i < I; i++) next[i * B + b] = dxv[b * I + i];
        dx.dispose();
        dzT = next;
      }
      return loss;
    } finally {
      tf.dispose(W);
    }
  }
}
