// One SGLD chain from w*, as devinterp's sample_single_chain runs it: minibatches from a loader
// that reshuffles on every pass (its `cycle`, which does not cache the first pass), a draw after
// every step past burn-in (num_steps_bw_draws = 1), and the loss recorded at a draw being the
// minibatch loss at the weights *before* that step. The chain's own generator (seed, chain)
// drives both the data order and the noise.
import { Rng } from './gaussian';
import { type NetSpec, isGraphSpec } from './graphNet';
import { DenseNet, type LossGrad } from './mlpNet';
import { NOISE_BLOCK, type SgldParams, malaFromSums, sgldDrawStep } from './sgld';
import { BatchMaker, type TaskData } from './taskData';

export interface ChainSettings extends SgldParams {
  draws: number;
  burnIn: number;
  batchSize: number;
  seed: number;
}

export interface ChainResult {
  chain: number;
  /** Minibatch loss per draw (length = draws, fewer when the chain diverged). */
  trace: number[];
  /** MALA acceptance probability per transition between draws (devinterp's trace from draw 2 on). */
  acceptance: number[];
  /** Set when the loss became NaN/∞ or blew up; the trace stops there. */
  diverged?: string;
  steps: number;
  seconds: number;
}

/** Loss "blow-up": a minibatch loss this many times the starting loss (and above 1e3 absolute) stops a chain. */
const BLOWUP = 1e4;

/** PyTorch DataLoader batches of one pass: ceil(n / batch) batches, the last one partial. */
export function batchesPerPass(n: number, batchSize: number): number {
  return Math.ceil(n / Math.min(batchSize, n));
}

/**
 * devinterp's init_loss with a seed: the mean of the per-batch mean losses over the first
 * min(chains, batches per pass) batches in dataset order (get_init_loss_multi_batch on an
 * unshuffled loader).
 */
export function initLoss(spec: NetSpec, w: Float64Array, data: TaskData, batchSize: number, chains: number, net: LossGrad = denseNet(spec)): number {
  const bs = Math.min(batchSize, data.n);
  const mk = new BatchMaker(data, bs);
  const count = Math.min(chains, batchesPerPass(data.n, bs));
  const idx = Int32Array.from({ length: data.n }, (_, i) => i);
  let total = 0;
  for (let b = 0; b < count; b++) {
    const from = b * bs;
    const to = Math.min(data.n, from + bs);
    const t = mk.fill(idx, from, to);
    total += net.loss(w, mk.x, t, to - from);
  }
  return total / count;
}

export interface ChainHooks {
  isCancelled?: () => boolean;
  /** After each draw (0-based) with its loss; throttled by the caller if needed. */
  onDraw?: (draw: number, loss: number) => void;
}

export class CancelledChain extends Error {}

/** The float64 engine of a dense net (graph nets need a GraphNet on a tfjs backend). */
function denseNet(spec: NetSpec): LossGrad {
  if (isGraphSpec(spec)) throw new Error('a graph network needs its GraphNet engine');
  return new DenseNet(spec);
}

/** Runs chain `chain` from the weights `wStar`; `net` computes the losses and gradients (default: the float64 engine of a dense net). */
export function runChain(spec: NetSpec, wStar: Float64Array, data: TaskData, s: ChainSettings, chain: number, hooks: ChainHooks = {}, net: LossGrad = denseNet(spec)): ChainResult {
  const t0 = performance.now();
  const P = spec.size;
  const w = wStar.slice();
  const grad = new Float64Array(P);
  const block = new Float64Array(NOISE_BLOCK);
  // The previous draw's pre-step point and drift, for the MALA acceptance.
  const prev = { w: new Float64Array(P), drift: new Float64Array(P) };
  let prevU = NaN;
  const rng = new Rng(s.seed, chain);
  const bs = Math.min(s.batchSize, data.n);
  const mk = new BatchMaker(data, bs);
  const order = Int32Array.from({ length: data.n }, (_, i) => i);
  const perPass = batchesPerPass(data.n, bs);
  let batch = perPass;
  const trace: number[] = [];
  const acceptance: number[] = [];
  const total = s.burnIn + s.draws;
  let firstLoss = NaN;
  let diverged: string | undefined;
  let steps = 0;
  for (let i = 0; i < total; i++) {
    if (hooks.isCancelled?.()) throw new CancelledChain();
    if (batch === perPass) {
      // A full batch needs no shuffle: its mean loss does not depend on the order.
      if (perPass > 1) rng.shuffle(order);
      batch = 0;
    }
    const from = batch * bs;
    const to = Math.min(data.n, from + bs);
    batch++;
    const targets = mk.fill(order, from, to);
    const loss = net.lossAndGrad(w, mk.x, targets, to - from, grad);
    if (i === 0) firstLoss = loss;
    if (!Number.isFinite(loss)) {
      diverged = `the loss became ${loss} at step ${i + 1}`;
      break;
    }
    if (loss > 1e3 && loss > BLOWUP * Math.max(firstLoss, 1e-12)) {
      diverged = `the loss blew up to ${loss.toPrecision(3)} at step ${i + 1} (from ${firstLoss.toPrecision(3)})`;
      break;
    }
    const draw = i - s.burnIn;
    // The move scored by MALA is (previous pre-step point) → (this pre-step point).
    const step = sgldDrawStep(w, grad, wStar, s, rng, block, draw < 0 ? 'off' : draw === 0 ? 'keep' : 'score', prev);
    steps++;
    if (draw >= 0) {
      trace.push(loss);
      const u = s.nbeta * loss + step.loc;
      if (draw >= 1) acceptance.push(malaFromSums(step.back, step.fwd, prevU, u, s.epsilon));
      prevU = u;
      hooks.onDraw?.(draw, loss);
    }
  }
  return { chain, trace, acceptance, diverged, steps, seconds: (performance.now() - t0) / 1000 };
}
