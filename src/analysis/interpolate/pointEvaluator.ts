// Evaluating one point of weight space — Σ_k c_k θ_k over the endpoints — on a dataset: build the
// weights, recompute BatchNorm statistics when the network has BatchNorm (an interpolated
// network's stored statistics are wrong, methods.md §0.3), then mean cross-entropy and accuracy.
// The same code runs in this thread and in each pool thread (pathWorker).
import type { Dataset } from '../data/dataset';
import { inputSamples, planInputs } from '../data/inputs';
import { recomputeBatchNorm } from '../model/batchnorm';
import { evaluate } from '../model/evaluate';
import { type Model, createModel } from '../model/execute';
import type { ModelGraph } from '../model/ir';
import type { StateDict } from '../model/stateDict';
import { FirstLayerCache, type FirstLayerOutputs, splitAtFirstLinear } from './firstLayerCache';
import { StateDictCombiner } from './lerp';

export interface BatchNormSettings {
  /** Recompute running statistics at every point (only acts when the graph has BatchNorm). */
  reset: boolean;
  /** Training examples per batch (default 128). */
  batchSize: number;
  /** Batches (default 32); fewer when the data holds fewer. */
  batches: number;
  /** Shuffle the BatchNorm examples with this seed; default: dataset order. */
  seed?: number;
}

/** Everything a thread needs to evaluate points; structured-cloneable (sent to pool threads). */
export interface PathSetup {
  graph: ModelGraph;
  /** The state dicts the points combine (A, B, …), all of `graph`. */
  endpoints: StateDict[];
  /** Evaluation data (already cut to --limit). */
  data: Dataset;
  /** Data for the BatchNorm reset (already cut to the examples used); absent when none runs. */
  bnData?: Dataset;
  bn: BatchNormSettings;
  /** Evaluation batch size (default: evaluate's). */
  batchSize?: number;
  /** Cache the endpoints' first-layer outputs when the network allows (firstLayerCache.ts). */
  cacheFirstLayer?: boolean;
  /** Those outputs, already computed (a pool computes them once and shares them with its threads). */
  firstLayer?: FirstLayerOutputs;
}

export interface PointResult {
  loss: number;
  accuracy: number;
  n: number;
  /** BatchNorm statistics were recomputed for this point. */
  bnReset: boolean;
}

export function hasBatchNorm(graph: ModelGraph): boolean {
  return graph.nodes.some((n) => n.op === 'batchnorm');
}

/** Recomputes the model's BatchNorm statistics when the setup asks for it and the graph has BatchNorm; says whether it did. */
export async function resetBatchNorm(model: Model, setup: Pick<PathSetup, 'graph' | 'bnData' | 'bn'>, isCancelled?: () => boolean): Promise<boolean> {
  const { bnData, bn, graph } = setup;
  if (!bn.reset || !hasBatchNorm(graph) || bnData === undefined) return false;
  const plan = planInputs(bnData, graph);
  await recomputeBatchNorm(model, inputSamples(bnData, plan, { batchSize: bn.batchSize, numBatches: bn.batches, seed: bn.seed }), { isCancelled });
  return true;
}

/** Batches per part of the data the tail of a cached network evaluates at once. */
const TAIL_PART_BATCHES = 8;

export class PointEvaluator {
  private readonly combiner: StateDictCombiner;
  private model?: Model;
  private cache?: Promise<FirstLayerCache | undefined>;
  private tailModel?: Model;

  constructor(private readonly setup: PathSetup) {
    this.combiner = new StateDictCombiner(setup.endpoints);
  }

  /** The model at Σ_k coefs[k]·θ_k, BatchNorm statistics recomputed if set up; owned by the evaluator. */
  async modelAt(coefs: readonly number[], isCancelled?: () => boolean): Promise<{ model: Model; bnReset: boolean }> {
    const sd: StateDict = this.combiner.at(coefs);
    if (this.model) this.model.update(sd);
    else this.model = createModel(this.setup.graph, sd);
    return { model: this.model, bnReset: await resetBatchNorm(this.model, this.setup, isCancelled) };
  }

  async evaluate(coefs: readonly number[], isCancelled?: () => boolean): Promise<PointResult> {
    const { setup } = this;
    // The BatchNorm reset runs the whole network on other data: no cache then.
    if (setup.cacheFirstLayer && !(setup.bn.reset && hasBatchNorm(setup.graph))) {
      this.cache ??= setup.firstLayer
        ? Promise.resolve(new FirstLayerCache(splitAtFirstLinear(setup.graph)!, setup.data, setup.firstLayer))
        : FirstLayerCache.build(setup.graph, setup.endpoints, setup.data, { batchSize: setup.batchSize, isCancelled });
      const cache = await this.cache;
      if (cache) {
        const sd = this.combiner.at(coefs);
        if (this.tailModel) this.tailModel.update(sd);
        else this.tailModel = createModel(cache.split.tail, sd);
        // Part by part (whole batches each): a small buffer for the combined first layer.
        const batchSize = setup.batchSize ?? 256;
        let lossSum = 0, correct = 0, scored = 0, n = 0;
        for (const part of cache.parts(coefs, batchSize * TAIL_PART_BATCHES)) {
          const r = await evaluate(this.tailModel, part, { batchSize, isCancelled });
          lossSum += r.loss * r.predictions;
          correct += Math.round(r.accuracy * r.predictions);
          scored += r.predictions;
          n += r.n;
        }
        return { loss: lossSum / scored, accuracy: correct / scored, n, bnReset: false };
      }
    }
    const { model, bnReset } = await this.modelAt(coefs, isCancelled);
    const r = await evaluate(model, this.setup.data, { batchSize: this.setup.batchSize, isCancelled });
    return { loss: r.loss, accuracy: r.accuracy, n: r.n, bnReset };
  }

  dispose(): void {
    this.model?.dispose();
    this.model = undefined;
    this.tailModel?.dispose();
    this.tailModel = undefined;
    this.cache?.then((c) => c?.dispose(), () => undefined);
    this.combiner.dispose();
  }
}
