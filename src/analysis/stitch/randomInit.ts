// A freshly initialised network of a graph's architecture, for stitching's random-bottom control
// (Bansal et al.: a randomly initialised bottom sets the scale of a "bad" stitching penalty).
// PyTorch's default initialisations: nn.Linear / nn.Conv2d weights and biases U(−1/√fan_in,
// 1/√fan_in) (kaiming_uniform with a = √5), BatchNorm γ = 1, β = 0 with running mean 0 and
// variance 1, LayerNorm 1 / 0, embeddings N(0, 1). Seeded, so the control is reproducible.
import { type ModelGraph, graphTensorRefs, tensorShapes } from '../model/ir';
import type { StateDict } from '../model/stateDict';
import { seededRandom } from './stitchLayer';

export function randomStateDict(graph: ModelGraph, seed: number): StateDict {
  const rand = seededRandom(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const shapes = tensorShapes(graph);
  const sd: StateDict = new Map();
  const put = (name: string | undefined, fill: (i: number) => number): void => {
    if (name === undefined || sd.has(name)) return;
    const shape = shapes.get(name)!;
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(name, { shape, values: Float32Array.from({ length: n }, (_, i) => fill(i)) });
  };
  const uniform = (fanIn: number) => () => (2 * rand() - 1) / Math.sqrt(fanIn);
  for (const r of graphTensorRefs(graph)) {
    const init = r.init;
    put(r.name, init === 'ones' ? () => 1 : init === 'zeros' ? () => 0 : init === 'normal' ? normal : uniform(init.uniform));
  }
  return sd;
}
