// MLPs: stacks of nn.Linear under any naming (layers.N, fcN, net.N, a head or classifier),
// optionally with BatchNorm1d/LayerNorm after a Linear. The order comes from the names, checked
// (and if needed repaired) by the shapes: each layer's input size is the previous one's output.
import { GraphBuilder, INPUT } from '../ir';
import type { NodeOp } from '../ir';
import { type Attempt, type RecognizeContext, asBatchNorm, asLayerNorm, asLinear, chainOrder, fail, finish, nameOrder } from './common';

export interface DenseLayer {
  path: string;
  linear: NonNullable<ReturnType<typeof asLinear>>;
  norm?: { path: string; op: NodeOp };
}

/**
 * Orders the Linear modules among `paths` into a chain and attaches norm modules to them.
 * Returns the layers, or the module paths it could not place.
 */
export function denseStack(ctx: RecognizeContext, paths: string[]): { layers: DenseLayer[] } | { problem: string; unplaced: string[] } {
  const linears: DenseLayer[] = [];
  const norms: { path: string; size: number; op: NodeOp }[] = [];
  const unplaced: string[] = [];
  const bnEps = ctx.arch.batchNormEps ?? 1e-5;
  const lnEps = ctx.arch.layerNormEps ?? 1e-5;
  for (const path of [...paths].sort(nameOrder)) {
    const m = ctx.modules.get(path)!;
    const lin = asLinear(m);
    const bn = asBatchNorm(m);
    const ln = asLayerNorm(m);
    if (lin) linears.push({ path, linear: lin });
    else if (bn) norms.push({ path, size: bn.numFeatures, op: { op: 'batchnorm', numFeatures: bn.numFeatures, weight: bn.weight, bias: bn.bias, runningMean: bn.runningMean, runningVar: bn.runningVar, eps: bnEps } });
    else if (ln) norms.push({ path, size: ln.size, op: { op: 'layernorm', size: ln.size, weight: ln.weight, bias: ln.bias, eps: lnEps } });
    else unplaced.push(...[...m.params.values()].map((t) => t.name));
  }
  if (linears.length === 0) return { problem: 'no Linear layers', unplaced };
  const order = chainOrder(linears, (l) => l.linear.inFeatures, (l) => l.linear.outFeatures);
  if (!order) {
    const shapes = linears.map((l) => `${l.path} ${l.linear.inFeatures}→${l.linear.outFeatures}`).join(', ');
    return { problem: `the Linear layers do not chain (each input size the previous output size): ${shapes}`, unplaced };
  }
  for (const n of norms) {
    // A norm follows the last Linear of its width that comes before it by name (fc1 → bn1, net.0 → net.1).
    const fits = order.filter((l) => l.linear.outFeatures === n.size && !l.norm);
    const before = fits.filter((l) => nameOrder(l.path, n.path) < 0);
    const host = before[before.length - 1] ?? fits[0];
    if (host) host.norm = { path: n.path, op: n.op };
    else unplaced.push(...[...ctx.modules.get(n.path)!.params.values()].map((t) => t.name));
  }
  if (unplaced.length) return { problem: 'some tensors are neither Linear nor norm layers that fit the chain', unplaced };
  return { layers: order };
}

/** Appends the dense layers as blocks (Linear → norm → activation; the last without activation). */
export function addDenseLayers(b: GraphBuilder, layers: DenseLayer[], act: NodeOp & { op: 'activation' }): void {
  layers.forEach((l, i) => {
    const last = i === layers.length - 1;
    b.beginBlock(l.path || 'linear', last ? 'head' : 'block');
    b.add(l.path || 'linear', { op: 'linear', ...l.linear, layout: 'out_in' });
    if (l.norm) b.add(l.norm.path, l.norm.op);
    if (!last && act.fn !== 'identity') b.add(`${l.path}.act`, act);
    b.endBlock();
  });
}

export const recognizeMlp = (ctx: RecognizeContext): Attempt | undefined => {
  if (ctx.tensors.some((t) => t.shape.length > 2)) return undefined;
  const paths = [...ctx.modules.keys()];
  if (!paths.some((p) => asLinear(ctx.modules.get(p)))) return undefined;
  const stack = denseStack(ctx, paths);
  if ('problem' in stack) return fail('mlp', stack.problem, stack.unplaced);
  const { layers } = stack;
  const fn = ctx.arch.activation ?? 'relu';
  const assumptions = ctx.arch.activation ? [] : ['ReLU between Linear layers (the weights cannot tell; set "activation" in an arch file)'];
  const b = new GraphBuilder();
  // Flattening first lets image-shaped data feed the MLP as PyTorch's x.flatten(1) would.
  b.add('flatten', { op: 'flatten' }, [INPUT]);
  addDenseLayers(b, layers, { op: 'activation', fn });
  const sizes = [layers[0].linear.inFeatures, ...layers.map((l) => l.linear.outFeatures)];
  return finish(ctx, 'mlp', {
    description: `MLP ${sizes.join('→')} (${fn}${layers.some((l) => l.norm) ? ', with norm layers' : ''})`,
    input: { kind: 'features', shape: [sizes[0]], normalize: ctx.arch.normalize },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    ignored: ctx.tensors.filter((t) => t.name.endsWith('.num_batches_tracked')).map((t) => t.name),
    assumptions,
  });
};
