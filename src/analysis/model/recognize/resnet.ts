// torchvision ResNets (torchvision.models.resnet): conv1/bn1 stem, layer1…layerN of BasicBlock
// or Bottleneck blocks (downsample.0/1 shortcuts where shapes change), global average pool, fc.
// Depth and widths come from the weights. What they do not say follows torchvision: the first
// block of every layer after layer1 has stride 2 (on the 3×3 conv, ResNet v1.5); a 7×7 conv1 is
// the ImageNet stem (stride 2, padding 3, then a 3×3/2 max-pool) and a 3×3 conv1 the small-image
// stem (stride 1, padding 1, no max-pool).
import { type Conv2dOp, GraphBuilder, INPUT, type NodeOp } from '../ir';
import { type Attempt, type RecognizeContext, asBatchNorm, asConv, asLinear, fail, finish, imageShapeFromHint, naturalCompare } from './common';

export const recognizeResnet = (ctx: RecognizeContext): Attempt | undefined => {
  const mod = (p: string) => ctx.modules.get(p);
  if (!asConv(mod('conv1')) || !asConv(mod('layer1.0.conv1'))) return undefined;

  const bnEps = ctx.arch.batchNormEps ?? 1e-5;
  const problems: string[] = [];
  const conv = (path: string, stride: number, padding: number, inChannels?: number): Conv2dOp | undefined => {
    const c = asConv(mod(path));
    if (!c) {
      problems.push(`${path} is not a convolution`);
      return undefined;
    }
    if (inChannels !== undefined && c.inChannels !== inChannels) problems.push(`${path} takes ${c.inChannels} channels but receives ${inChannels}`);
    return { op: 'conv2d', weight: c.weight, bias: c.bias, inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: [stride, stride], padding: [padding, padding] };
  };
  const bn = (path: string, channels: number): NodeOp | undefined => {
    const n = asBatchNorm(mod(path));
    if (!n) {
      problems.push(`${path} is not a BatchNorm2d`);
      return undefined;
    }
    if (n.numFeatures !== channels) problems.push(`${path} normalises ${n.numFeatures} channels, its conv gives ${channels}`);
    return { op: 'batchnorm', numFeatures: n.numFeatures, weight: n.weight, bias: n.bias, runningMean: n.runningMean, runningVar: n.runningVar, eps: bnEps };
  };

  // Layers and their blocks, from the names.
  const layers: number[][] = [];
  for (const path of ctx.modules.keys()) {
    const m = /^layer(\d+)\.(\d+)\./.exec(path + '.');
    if (!m) continue;
    const li = Number(m[1]) - 1;
    (layers[li] ??= []).push(Number(m[2]));
  }
  const depths: number[] = [];
  for (let i = 0; i < layers.length; i++) {
    const blocks = [...new Set(layers[i] ?? [])].sort((a, b) => a - b);
    if (blocks.length === 0 || blocks[blocks.length - 1] !== blocks.length - 1) return fail('resnet', `layer${i + 1}'s blocks are not numbered 0…n-1`);
    depths.push(blocks.length);
  }
  const bottleneck = asConv(mod('layer1.0.conv3')) !== undefined;
  const stem = asConv(mod('conv1'))!;
  const small = ctx.arch.stem ? ctx.arch.stem === 'small' : stem.kernel[0] <= 3;
  const strides = ctx.arch.strides ?? depths.map((_, i) => (i === 0 ? 1 : 2));
  if (strides.length !== depths.length) return fail('resnet', `"strides" has ${strides.length} entries for ${depths.length} layers`);
  const assumptions: string[] = [];
  if (!ctx.arch.stem) assumptions.push(small ? `small-image stem (conv1 is ${stem.kernel.join('×')}: stride 1, no max-pool)` : `ImageNet stem (conv1 is ${stem.kernel.join('×')}: stride 2, then 3×3/2 max-pool)`);
  if (!ctx.arch.strides) assumptions.push(`layer strides ${strides.join(', ')} (torchvision)`);

  const b = new GraphBuilder();
  b.beginBlock('stem', 'stem');
  const c1 = conv('conv1', small ? 1 : 2, Math.floor(stem.kernel[0] / 2));
  if (c1) b.add('conv1', c1, [INPUT]);
  const c1bn = bn('bn1', stem.outChannels);
  if (c1bn) b.add('bn1', c1bn);
  b.add('relu', { op: 'activation', fn: 'relu' });
  if (!small) b.add('maxpool', { op: 'maxpool2d', kernel: [3, 3], stride: [2, 2], padding: [1, 1] });
  b.endBlock();

  let channels = stem.outChannels;
  depths.forEach((depth, li) => {
    for (let bi = 0; bi < depth; bi++) {
      const p = `layer${li + 1}.${bi}`;
      const stride = bi === 0 ? strides[li] : 1;
      const hasDown = asConv(mod(`${p}.downsample.0`)) !== undefined;
      const input = b.current;
      const convs = bottleneck
        ? [conv(`${p}.conv1`, 1, 0, channels), conv(`${p}.conv2`, stride, 1), conv(`${p}.conv3`, 1, 0)]
        : [conv(`${p}.conv1`, stride, 1, channels), conv(`${p}.conv2`, 1, 1)];
      if (convs.some((c) => !c)) return;
      b.beginBlock(p, 'residual', !hasDown);
      convs.forEach((c, ci) => {
        const name = `${p}.conv${ci + 1}`;
        if (ci > 0 && c!.inChannels !== convs[ci - 1]!.outChannels) problems.push(`${name} takes ${c!.inChannels} channels but receives ${convs[ci - 1]!.outChannels}`);
        b.add(name, c!);
        const norm = bn(`${p}.bn${ci + 1}`, c!.outChannels);
        if (norm) b.add(`${p}.bn${ci + 1}`, norm);
        if (ci < convs.length - 1) b.add(`${p}.relu${ci + 1}`, { op: 'activation', fn: 'relu' });
      });
      const main = b.current;
      const out = convs[convs.length - 1]!.outChannels;
      let shortcut = input;
      if (hasDown) {
        const d = conv(`${p}.downsample.0`, stride, 0, channels);
        const dn = bn(`${p}.downsample.1`, out);
        if (d && d.kernel[0] !== 1) problems.push(`${p}.downsample.0 is ${d.kernel.join('×')}, torchvision's is 1×1`);
        if (d) b.add(`${p}.downsample.0`, d, [input]);
        if (dn) shortcut = b.add(`${p}.downsample.1`, dn);
      } else if (stride !== 1 || out !== channels) {
        problems.push(`${p} changes shape (stride ${stride}, ${channels}→${out} channels) but has no downsample`);
      }
      b.add(`${p}.add`, { op: 'add' }, [main, shortcut]);
      b.add(`${p}.relu`, { op: 'activation', fn: 'relu' });
      b.endBlock();
      channels = out;
    }
  });
  if (problems.length) return fail('resnet', problems.join('; '));

  b.beginBlock('avgpool', 'pool');
  b.add('avgpool', { op: 'adaptive_avgpool2d', output: [1, 1] });
  b.add('flatten', { op: 'flatten' });
  b.endBlock();
  const fc = asLinear(mod('fc'));
  if (!fc) return fail('resnet', 'no fc Linear layer');
  if (fc.inFeatures !== channels) return fail('resnet', `fc takes ${fc.inFeatures} features but layer${depths.length} gives ${channels}`);
  b.beginBlock('fc', 'head');
  b.add('fc', { op: 'linear', ...fc, layout: 'out_in' });
  b.endBlock();

  const hint = imageShapeFromHint(ctx.arch.inputShape ?? ctx.inputHint, stem.inChannels);
  const side = small ? 32 : 224;
  if (!hint) assumptions.push(`input [${stem.inChannels}, ${side}, ${side}] (any size works)`);
  const kind = bottleneck ? 'Bottleneck' : 'BasicBlock';
  const widths = [...new Set(ctx.tensors.filter((t) => /^layer\d+\.0\.conv1\.weight$/.test(t.name)).sort((x, y) => naturalCompare(x.name, y.name)).map((t) => t.shape[0]))];
  return finish(ctx, 'resnet', {
    description: `ResNet, ${kind} blocks [${depths.join(', ')}], widths ${widths.join('-')}, ${small ? 'small-image' : 'ImageNet'} stem, ${fc.outFeatures} classes`,
    input: { kind: 'image', shape: hint ?? [stem.inChannels, side, side], normalize: ctx.arch.normalize },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    ignored: ctx.tensors.filter((t) => t.name.endsWith('.num_batches_tracked')).map((t) => t.name),
    assumptions,
  });
};
