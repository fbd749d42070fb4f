// Plain CNNs: convolutions (each optionally followed by BatchNorm2d, an activation and a pool),
// then Linear layers, named as nn.Sequential (features.N / classifier.N, net.N) or as modules
// (conv1, bn1, fc1). The weights fix channels and kernel sizes but not padding, pooling or the
// input size. Those are chosen among the usual PyTorch arrangements as the one under which the
// flattened features have exactly the first Linear's input size; in an nn.Sequential the gaps
// in the indices (parameter-free modules: ReLU, MaxPool2d, Dropout) say where pools can be.
import { GraphBuilder, INPUT, type NodeOp } from '../ir';
import { type Attempt, type RecognizeContext, asBatchNorm, asConv, chainOrder, fail, finish, imageShapeFromHint, join, nameOrder, splitPath } from './common';
import { addDenseLayers, denseStack } from './mlp';

interface ConvUnit {
  conv: string;
  spec: NonNullable<ReturnType<typeof asConv>>;
  bn?: { path: string; spec: NonNullable<ReturnType<typeof asBatchNorm>> };
  /** Parameter-free modules after the unit in its nn.Sequential; undefined when the naming cannot tell. */
  gap?: number;
}

type Padding = 'same' | 'valid' | number;

interface Hypothesis {
  padding: Padding;
  pools: Set<number>;
  adaptive?: [number, number];
  input: [number, number, number];
}

const DEFAULT_SIDE: Record<number, number> = { 1: 28, 3: 32 };

/** `features.4` → ['features', 4]; undefined when the last component is not an index. */
function seqIndex(path: string): [string, number] | undefined {
  const [parent, last] = splitPath(path);
  return /^\d+$/.test(last) ? [parent, Number(last)] : undefined;
}

/** `bn1` and `conv1` share the key `parent.1`. */
function suffixKey(path: string): string | undefined {
  const [parent, last] = splitPath(path);
  const m = /(\d+)$/.exec(last);
  return m ? `${parent}.${m[1]}` : undefined;
}

function padOf(p: Padding, k: number): number {
  return p === 'same' ? Math.floor(k / 2) : p === 'valid' ? 0 : p;
}

/** Every subset of `items`, larger ones first (pooling is usual after most conv stages). */
function subsets(items: number[]): number[][] {
  const out: number[][] = [];
  for (let mask = (1 << items.length) - 1; mask >= 0; mask--) out.push(items.filter((_, i) => mask & (1 << i)));
  return out.sort((a, b) => b.length - a.length);
}

export const recognizeCnn = (ctx: RecognizeContext): Attempt | undefined => {
  const paths = [...ctx.modules.keys()].sort(nameOrder);
  const convPaths = paths.filter((p) => asConv(ctx.modules.get(p)));
  if (convPaths.length === 0) return undefined;
  const rest: string[] = [];
  const units: ConvUnit[] = convPaths.map((p) => ({ conv: p, spec: asConv(ctx.modules.get(p))! }));

  // BatchNorm2d after a conv: matched by number (bn1 ↔ conv1), else by following it in name order.
  const bnPaths = paths.filter((p) => !convPaths.includes(p) && asBatchNorm(ctx.modules.get(p)));
  for (const p of bnPaths) {
    const spec = asBatchNorm(ctx.modules.get(p))!;
    const free = units.filter((u) => !u.bn && u.spec.outChannels === spec.numFeatures);
    const key = suffixKey(p);
    const prev = paths[paths.indexOf(p) - 1];
    const host = free.find((u) => key !== undefined && suffixKey(u.conv) === key) ?? free.find((u) => u.conv === prev);
    if (host) host.bn = { path: p, spec };
    else rest.push(p);
  }
  rest.push(...paths.filter((p) => !convPaths.includes(p) && !bnPaths.includes(p)));

  const hintShape = ctx.arch.inputShape ?? ctx.inputHint;
  const order = chainOrder(units, (u) => u.spec.inChannels, (u) => u.spec.outChannels);
  if (!order) return fail('cnn', `the convolutions' channels do not chain: ${units.map((u) => `${u.conv} ${u.spec.inChannels}→${u.spec.outChannels}`).join(', ')}`);
  const channels = order[0].spec.inChannels;

  const dense = denseStack(ctx, rest);
  if ('problem' in dense) return fail('cnn', dense.problem, dense.unplaced);
  const flatIn = dense.layers[0].linear.inFeatures;
  const lastC = order[order.length - 1].spec.outChannels;

  // Index gaps inside one nn.Sequential tell how many parameter-free modules follow a unit.
  order.forEach((u, i) => {
    const here = seqIndex(u.bn?.path ?? u.conv);
    const next = order[i + 1] && seqIndex(order[i + 1].conv);
    if (here && next && here[0] === next[0]) u.gap = next[1] - here[1] - 1;
  });

  const pool = ctx.arch.pool ?? { kind: 'max' as const, kernel: 2, stride: 2 };
  const assumptions: string[] = [];
  const byName = new Map(order.map((u, i) => [u.conv, i]));
  let poolSets: number[][];
  if (ctx.arch.poolAfter) {
    const bad = ctx.arch.poolAfter.filter((n) => !byName.has(n));
    if (bad.length) return fail('cnn', `pool_after names ${bad.join(', ')}, which are not convolutions (they are: ${order.map((u) => u.conv).join(', ')})`);
    poolSets = [ctx.arch.poolAfter.map((n) => byName.get(n)!)];
  } else {
    const suggested = order.flatMap((u, i) => (u.gap !== undefined && u.gap >= 2 ? [i] : []));
    const unknown = order.flatMap((u, i) => (u.gap === undefined ? [i] : []));
    poolSets = unknown.length > 12 ? [[...suggested, ...unknown], suggested] : subsets(unknown).map((s) => [...suggested, ...s]);
  }
  const paddings: Padding[] = ctx.arch.convPadding !== undefined ? [ctx.arch.convPadding] : ['same', 'valid'];

  const spatial = (h: Hypothesis): [number, number] | undefined => {
    let [, H, W] = h.input;
    for (let i = 0; i < order.length; i++) {
      const { kernel } = order[i].spec;
      H = H + 2 * padOf(h.padding, kernel[0]) - kernel[0] + 1;
      W = W + 2 * padOf(h.padding, kernel[1]) - kernel[1] + 1;
      if (h.pools.has(i)) {
        H = Math.floor((H - pool.kernel) / pool.stride) + 1;
        W = Math.floor((W - pool.kernel) / pool.stride) + 1;
      }
      if (H < 1 || W < 1) return undefined;
    }
    return h.adaptive ?? [H, W];
  };
  const fits = (h: Hypothesis): boolean => {
    const s = spatial(h);
    return s !== undefined && lastC * s[0] * s[1] === flatIn;
  };

  const side = Math.round(Math.sqrt(flatIn / lastC));
  const squareOut = side * side * lastC === flatIn ? side : undefined;
  const adaptives: ([number, number] | undefined)[] = ctx.arch.adaptivePool ? [ctx.arch.adaptivePool] : [undefined];
  const search = (input: [number, number, number], withAdaptive: boolean): Hypothesis | undefined => {
    const extra = withAdaptive && !ctx.arch.adaptivePool && squareOut ? [[squareOut, squareOut] as [number, number]] : [];
    for (const adaptive of withAdaptive ? extra : adaptives) {
      for (const padding of paddings) {
        for (const ps of poolSets) {
          const h = { padding, pools: new Set(ps), adaptive, input };
          if (fits(h)) return h;
        }
      }
    }
    return undefined;
  };

  let chosen: Hypothesis | undefined;
  const given = imageShapeFromHint(hintShape, channels);
  if (hintShape && !given) return fail('cnn', `input shape [${hintShape}] does not fit a network with ${channels} input channels`);
  if (given) {
    chosen = search(given, false) ?? search(given, true);
  } else {
    const d = DEFAULT_SIDE[channels];
    if (d) chosen = search([channels, d, d], false);
    // Otherwise the input size that the most usual arrangement maps to the first Linear's size.
    if (!chosen && squareOut && pool.kernel === pool.stride) {
      const padding = paddings.includes('same') ? 'same' : undefined;
      if (padding) {
        const ps = poolSets[0];
        const s = squareOut * pool.stride ** ps.length;
        chosen = { padding, pools: new Set(ps), input: [channels, s, s] };
        if (ctx.arch.adaptivePool) chosen.adaptive = ctx.arch.adaptivePool;
        if (!fits(chosen)) chosen = undefined;
        else assumptions.push(`input [${chosen.input}] (inferred: the first Linear layer takes ${flatIn} features)`);
      }
    }
    if (!chosen && d) chosen = search([channels, d, d], true);
  }
  if (!chosen) {
    const input = given ? `[${given}]` : 'any usual input size';
    return fail('cnn', `no arrangement of padding and pooling maps ${input} through the ${order.length} convolutions to the ${flatIn} features the first Linear layer (${dense.layers[0].path}) takes; give input_shape, conv_padding, pool_after or adaptive_pool in an arch file`);
  }

  const fn = ctx.arch.activation ?? 'relu';
  if (!ctx.arch.activation) assumptions.push('ReLU after each convolution stage and between Linear layers (set "activation" in an arch file)');
  if (ctx.arch.convPadding === undefined) assumptions.push(`conv padding ${chosen.padding === 'same' ? 'kernel // 2 ("same")' : chosen.padding === 'valid' ? '0 ("valid")' : chosen.padding}`);
  if (!ctx.arch.poolAfter) assumptions.push(chosen.pools.size ? `${pool.kind}-pool ${pool.kernel}×${pool.kernel} after ${[...chosen.pools].map((i) => order[i].conv).join(', ')}` : 'no pooling between convolutions');
  if (chosen.adaptive && !ctx.arch.adaptivePool) assumptions.push(`adaptive average pool to ${chosen.adaptive.join('×')} before the classifier`);

  const bnEps = ctx.arch.batchNormEps ?? 1e-5;
  const b = new GraphBuilder();
  let prev = INPUT;
  order.forEach((u, i) => {
    b.beginBlock(u.conv, 'block');
    const k = u.spec.kernel;
    const pad = chosen!.padding;
    b.add(u.conv, { op: 'conv2d', weight: u.spec.weight, bias: u.spec.bias, inChannels: u.spec.inChannels, outChannels: u.spec.outChannels, kernel: k, stride: [1, 1], padding: [padOf(pad, k[0]), padOf(pad, k[1])] }, [prev]);
    if (u.bn) b.add(u.bn.path, { op: 'batchnorm', numFeatures: u.bn.spec.numFeatures, weight: u.bn.spec.weight, bias: u.bn.spec.bias, runningMean: u.bn.spec.runningMean, runningVar: u.bn.spec.runningVar, eps: bnEps });
    // An nn.Sequential with no module between two convs has no activation there.
    if (u.gap !== 0 && fn !== 'identity') b.add(join(u.conv, 'act'), { op: 'activation', fn });
    if (chosen!.pools.has(i)) {
      const op: NodeOp = { op: pool.kind === 'max' ? 'maxpool2d' : 'avgpool2d', kernel: [pool.kernel, pool.kernel], stride: [pool.stride, pool.stride], padding: [0, 0] };
      b.add(join(u.conv, 'pool'), op);
    }
    b.endBlock();
    prev = b.current;
  });
  b.beginBlock('flatten', 'pool');
  if (chosen.adaptive) b.add('avgpool', { op: 'adaptive_avgpool2d', output: chosen.adaptive });
  b.add('flatten', { op: 'flatten' });
  b.endBlock();
  addDenseLayers(b, dense.layers, { op: 'activation', fn });

  const widths = order.map((u) => u.spec.outChannels).join('-');
  return finish(ctx, 'cnn', {
    description: `CNN, ${order.length} convolutions (${widths} channels${order.some((u) => u.bn) ? ', BatchNorm' : ''}) then ${dense.layers.length} Linear layers, input [${chosen.input}]`,
    input: { kind: 'image', shape: chosen.input, normalize: ctx.arch.normalize },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    ignored: ctx.tensors.filter((t) => t.name.endsWith('.num_batches_tracked')).map((t) => t.name),
    assumptions,
  });
};
